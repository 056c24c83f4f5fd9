// Sign in, first-run setup, signing out, and what happens when the session ends.
import * as api from './api.js';
import { $, show, showNotice, state } from './state.js';

let authMode = 'login';
let onSignedIn = null;
const ENDED_KEY = 'campfire.session-ended';
const MIN_PASSWORD_CHARS = 8;
const logoutHooks = []; // work to finish while the session still exists (see beforeLogout)
const LOGOUT_HOOK_MS = 3000;

/**
 * Back to the sign-in page. `ended`: the session ended by itself (revoked, expired), so the
 * sign-in page says so. Drafts and unsent messages are saved as they change: nothing is lost.
 */
export function signedOut(ended = false) {
  if (state.socket) state.socket.stop();
  state.leaving = true;
  if (ended) sessionStorage.setItem(ENDED_KEY, '1');
  location.assign('/');
}

/** Report an API failure; a 401 means the session ended. */
export function failed(err, what) {
  if (err.status === 401) return signedOut(true);
  showNotice(`${what}: ${err.message}`);
}

/** "a", "a and b", "a, b and c". */
function listing(items) {
  return items.length < 2 ? items.join('') : `${items.slice(0, -1).join(', ')} and ${items.at(-1)}`;
}

/** What is missing or wrong in the form, said the way a person would; '' when all is well. */
function formProblem() {
  const fields = [['auth-email', 'your email'], ['auth-password', 'a password']];
  if (authMode === 'setup') fields.unshift(['auth-name', 'your name']);
  const empty = fields.filter(([id]) => !$(id).value.trim());
  for (const [id] of fields) $(id).setAttribute('aria-invalid', String(empty.some(([e]) => e === id)));
  if (empty.length) {
    $(empty[0][0]).focus();
    return `Please enter ${listing(empty.map(([, what]) => what))}.`;
  }
  if (!$('auth-email').value.includes('@')) {
    $('auth-email').setAttribute('aria-invalid', 'true');
    $('auth-email').focus();
    return 'Please enter a whole email address, like ann@example.com.';
  }
  if (authMode === 'setup' && [...$('auth-password').value].length < MIN_PASSWORD_CHARS) {
    $('auth-password').setAttribute('aria-invalid', 'true');
    $('auth-password').focus();
    return `Please choose a password of at least ${MIN_PASSWORD_CHARS} characters.`;
  }
  return '';
}

/** The sign-in (or first-run) page. */
export async function showAuth() {
  const { needs_setup: needsSetup } = await api.getSetup();
  authMode = needsSetup ? 'setup' : 'login';
  $('auth-title').textContent = needsSetup ? 'Create the administrator account' : 'Sign in';
  $('auth-intro').textContent = needsSetup
    ? 'This Campfire is new. The first account runs the place: pick your name, email and a password (8+ characters).'
    : 'Welcome back. Sign in to join the conversation.';
  if (!needsSetup && sessionStorage.getItem(ENDED_KEY)) {
    sessionStorage.removeItem(ENDED_KEY);
    $('auth-intro').textContent = 'Your session ended; sign in again. Your drafts are kept.';
  }
  $('name-field').hidden = !needsSetup;
  $('auth-name').required = needsSetup;
  $('auth-password').autocomplete = needsSetup ? 'new-password' : 'current-password';
  $('auth-submit').textContent = needsSetup ? 'Create account' : 'Sign in';
  $('auth-error').textContent = '';
  show('auth-view');
  (needsSetup ? $('auth-name') : $('auth-email')).focus();
}

async function submitAuth(event) {
  event.preventDefault();
  const button = $('auth-submit');
  const email = $('auth-email').value.trim();
  const password = $('auth-password').value;
  $('auth-error').textContent = formProblem();
  if ($('auth-error').textContent) return;
  button.disabled = true;
  try {
    const data = authMode === 'setup'
      ? await api.setup(email, $('auth-name').value.trim(), password)
      : await api.login(email, password);
    $('auth-password').value = '';
    await onSignedIn(data.user);
  } catch (err) {
    $('auth-error').textContent = err.message;
    if (err.code === 'SETUP_ALREADY_DONE') await showAuth();
  } finally {
    button.disabled = false;
  }
}

/** True while the session is alive; false on a 401; throws when the server is unreachable. */
export async function checkAuth() {
  try {
    await api.me();
    return true;
  } catch (err) {
    if (err.status === 401) return false;
    throw err;
  }
}

/** Run `hook()` (async) on Log out, before the session ends; it gets 3 s at most. */
export function beforeLogout(hook) {
  logoutHooks.push(hook);
}

async function logout() {
  const timeout = new Promise((resolve) => { setTimeout(resolve, LOGOUT_HOOK_MS); });
  await Promise.race([Promise.allSettled(logoutHooks.map(async (hook) => hook())), timeout]);
  try {
    await api.logout();
  } catch {
    // Signed out already or the server is away: either way, back to the sign-in page.
  }
  signedOut();
}

/** Wire the sign-in form and Log out; `signedIn(user)` starts the chat. */
export function wireAuth(signedIn) {
  onSignedIn = signedIn;
  $('auth-form').addEventListener('submit', submitAuth);
  $('logout').addEventListener('click', logout);
}
