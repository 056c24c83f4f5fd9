// Sign in, first-run setup, signing out, and what happens when the session ends.
import * as api from './api.js';
import { $, show, showNotice, state } from './state.js';

let authMode = 'login';
let onSignedIn = null;

/** The session is gone: back to the sign-in page. */
export function signedOut() {
  if (state.socket) state.socket.stop();
  location.assign('/');
}

/** Report an API failure; a 401 means the session ended. */
export function failed(err, what) {
  if (err.status === 401) return signedOut();
  showNotice(`${what}: ${err.message}`);
}

/** The sign-in (or first-run) page. */
export async function showAuth() {
  const { needs_setup: needsSetup } = await api.getSetup();
  authMode = needsSetup ? 'setup' : 'login';
  $('auth-title').textContent = needsSetup ? 'Create the administrator account' : 'Sign in';
  $('auth-intro').textContent = needsSetup
    ? 'This Campfire is new. The first account runs the place: pick your name, email and a password (8+ characters).'
    : 'Welcome back. Sign in to join the conversation.';
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
  $('auth-error').textContent = '';
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

async function logout() {
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
