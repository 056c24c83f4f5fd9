// My account: change one's name and password, see where one is signed in and end any of those
// sessions, and make a login link to sign in on another device.
import * as api from './api.js';
import { failed, signedOut } from './auth.js';
import { el } from './render.js';
import { $, state } from './state.js';
import { confirmAction, openPanel, say, showCopyBox, timeEl } from './ui.js';

const MIN_PASSWORD_CHARS = 8;

/** "Chrome on Linux" from a User-Agent, or the start of it when it is something else. */
export function describeAgent(agent) {
  if (!agent) return 'Unknown browser or app';
  const browser = [['Edg/', 'Edge'], ['Firefox/', 'Firefox'], ['Chrome/', 'Chrome'], ['Chromium/', 'Chromium'],
    ['Safari/', 'Safari'], ['curl/', 'curl'], ['Python', 'Python']].find(([mark]) => agent.includes(mark));
  const system = [['Android', 'Android'], ['iPhone', 'iPhone'], ['iPad', 'iPad'], ['Windows', 'Windows'],
    ['Mac OS', 'macOS'], ['Linux', 'Linux']].find(([mark]) => agent.includes(mark));
  if (!browser) return agent.slice(0, 60);
  return system ? `${browser[1]} on ${system[1]}` : browser[1];
}

async function open() {
  openPanel('my-account');
  $('my-name-form').addEventListener('submit', saveName);
  $('my-password-form').addEventListener('submit', savePassword);
  $('my-login-link').addEventListener('click', makeLink);
  $('my-name').value = state.me.name;
  await loadSessions();
}

async function loadSessions() {
  const list = $('my-sessions');
  let sessions;
  try {
    ({ sessions } = await api.sessions());
  } catch (err) {
    return failed(err, 'Could not load your sessions');
  }
  if (!list.isConnected) return; // the panel closed meanwhile
  list.replaceChildren();
  for (const session of sessions) {
    const li = el('li', session.current ? 'current' : '');
    const what = el('div', 'session-what');
    const agent = el('strong', null, describeAgent(session.user_agent));
    agent.title = session.user_agent || '';
    what.append(agent);
    if (session.current) what.append(el('span', 'tag', 'this one'));
    const when = el('div', 'session-when muted');
    when.append('Signed in ', timeEl(session.created_at), ' · last used ', timeEl(session.last_used_at));
    const end = el('button', 'small-button', session.current ? 'End (log out)' : 'End');
    end.type = 'button';
    end.setAttribute('aria-label', session.current ? 'End this session (log out)' : `End session: ${describeAgent(session.user_agent)}`);
    end.addEventListener('click', () => endSession(session));
    li.append(what, when, end);
    list.append(li);
  }
}

async function endSession(session) {
  if (session.current && !(await confirmAction('End this session? You will be logged out here.', 'Log out'))) return;
  try {
    await api.endSession(session.id);
  } catch (err) {
    return failed(err, 'Could not end the session');
  }
  if (session.current) return signedOut();
  await loadSessions();
}

async function saveName(event) {
  event.preventDefault();
  const name = $('my-name').value.trim();
  const status = $('my-name-status');
  if (!name) {
    return say(status, 'Please enter your name.');
  }
  try {
    const { user } = await api.renameMe(name);
    Object.assign(state.me, user); // UserUpdated follows and redraws every name
    $('me-name').textContent = user.name;
    say(status, 'Saved.', true);
  } catch (err) {
    if (err.status === 401) return failed(err, '');
    say(status, err.message);
  }
}

async function savePassword(event) {
  event.preventDefault();
  const status = $('my-password-status');
  const current = $('my-current-password').value;
  const password = $('my-new-password').value;
  if (!current) {
    say(status, 'Please enter your current password.');
    return $('my-current-password').focus();
  }
  if ([...password].length < MIN_PASSWORD_CHARS) {
    say(status, `Please choose a new password of at least ${MIN_PASSWORD_CHARS} characters.`);
    return $('my-new-password').focus();
  }
  try {
    await api.changePassword(current, password);
    status.closest('form').reset();
    say(status, 'Password changed. Every other session has ended.', true);
    if (status.isConnected) await loadSessions();
  } catch (err) {
    if (err.status === 401) return failed(err, '');
    say(status, err.code === 'WRONG_PASSWORD' ? 'Your current password is not right.' : err.message);
  }
}

async function makeLink() {
  const box = $('my-login-link-out');
  try {
    const { url, expires_at: expires } = await api.loginLink('me');
    if (!box.isConnected) return;
    box.replaceChildren();
    showCopyBox(box, 'Login link', url, `Works once, until ${new Date(expires).toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' })}.`);
  } catch (err) {
    failed(err, 'Could not make a login link');
  }
}

/** Wire the My account button (the panel is wired each time it opens). */
export function wireMyAccount() {
  $('open-my-account').addEventListener('click', open);
}
