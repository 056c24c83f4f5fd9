// People & settings, for administrators: everyone with role, status and last activity; the
// join link (copy, replace); adding a person; deactivate / reactivate; admin rights; login
// links; the account's name and open-room rule; and bots (add, webhook, key, remove).
import * as api from './api.js';
import { failed } from './auth.js';
import { showAccount } from './directory.js';
import { on } from './events.js';
import { el } from './render.js';
import { $, state } from './state.js';
import { confirmAction, copyText, openPanel, say, showCopyBox, timeEl } from './ui.js';

const BOT_EMAIL = /@bots\.invalid$/; // where the server files bots' (unusable) addresses
const TABS = ['people', 'bots', 'account'];
let bots = []; // GET /api/bots

/** A person's role as the people screen names it. */
function roleOf(user) {
  if (bots.some((b) => b.id === user.id) || BOT_EMAIL.test(user.email || '')) return 'bot';
  return user.is_admin ? 'admin' : 'member';
}

function button(text, label, onClick, className = 'small-button') {
  const b = el('button', className, text);
  b.type = 'button';
  if (label) b.setAttribute('aria-label', label);
  b.addEventListener('click', onClick);
  return b;
}

// --- people ----------------------------------------------------------------------------------

function renderPeople() {
  const list = $('people-table');
  if (!list) return; // the panel is closed
  list.replaceChildren();
  const people = [...state.users.values()].sort((a, b) =>
    (a.is_active === false) - (b.is_active === false) || a.name.localeCompare(b.name));
  for (const user of people) {
    const role = roleOf(user);
    const active = user.is_active !== false;
    const li = el('li', `person-row${active ? '' : ' inactive'}`);
    li.dataset.userId = user.id;
    const who = el('div', 'person-who');
    const name = el('strong', 'person-name', user.name);
    name.title = user.name;
    who.append(name);
    if (user.id === state.me.id) who.append(el('span', 'tag', 'you'));
    if (role !== 'bot' && user.email) who.append(el('span', 'person-email muted', user.email));
    const facts = el('div', 'person-facts');
    facts.append(el('span', `tag role-${role}`, role), el('span', `tag status-${active ? 'active' : 'off'}`, active ? 'active' : 'deactivated'));
    const seen = el('span', 'muted person-seen');
    if (role === 'bot') seen.append('posts with its key');
    else seen.append('last active ', timeEl(user.last_active_at));
    facts.append(seen);
    const actions = el('div', 'person-actions');
    if (role !== 'bot' && user.id !== state.me.id) {
      if (active) {
        actions.append(
          button(user.is_admin ? 'Remove admin' : 'Make admin', `${user.is_admin ? 'Remove admin rights from' : 'Make administrator:'} ${user.name}`,
            () => setAdmin(user, !user.is_admin)),
          button('Login link', `Make a login link for ${user.name}`, () => makeLoginLink(user)),
          button('Deactivate…', `Deactivate ${user.name}`, () => setActive(user, false), 'danger-button'),
        );
      } else {
        actions.append(button('Reactivate', `Reactivate ${user.name}`, () => setActive(user, true)));
      }
    } else if (user.id === state.me.id) {
      actions.append(button('Login link', 'Make a login link for yourself', () => makeLoginLink(user)));
    }
    li.append(who, facts, actions);
    list.append(li);
  }
}

async function setAdmin(user, isAdmin) {
  if (!isAdmin && !(await confirmAction(`Take away ${user.name}'s administrator rights?`, 'Remove admin'))) return;
  await change(user, { is_admin: isAdmin });
}

async function setActive(user, isActive) {
  if (!isActive && !(await confirmAction(
    `Deactivate ${user.name}? They are signed out everywhere and cannot sign in; their messages stay.`, 'Deactivate'))) return;
  await change(user, { is_active: isActive });
}

async function change(user, changes) {
  try {
    const { user: changed } = await api.updateUser(user.id, changes);
    state.users.set(user.id, { ...state.users.get(user.id), ...changed }); // UserUpdated follows
    renderPeople();
  } catch (err) {
    failed(err, `Could not change ${user.name}`);
  }
}

async function makeLoginLink(user) {
  const box = $('people-out');
  try {
    const { url, expires_at: expires } = await api.loginLink(user.id === state.me.id ? 'me' : user.id);
    if (!box.isConnected) return;
    box.replaceChildren();
    const until = new Date(expires).toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' });
    showCopyBox(box, `Login link for ${user.name}`, url,
      `Send it to ${user.name}: it signs them in once and lets them set a new password. It works until ${until}.`);
    box.scrollIntoView({ block: 'nearest' });
  } catch (err) {
    failed(err, 'Could not make a login link');
  }
}

async function addPerson(event) {
  event.preventDefault();
  const error = $('add-person-error');
  const fields = {
    name: $('add-name').value.trim(), email: $('add-email').value.trim(),
    password: $('add-password').value, is_admin: $('add-admin').checked,
  };
  const missing = [['name', 'a name'], ['email', 'an email'], ['password', 'a password']].filter(([k]) => !fields[k]);
  if (missing.length) return say(error, `Please enter ${missing.map(([, w]) => w).join(', ')}.`);
  try {
    const { user } = await api.createUser(fields);
    state.users.set(user.id, { last_active_at: null, ...user });
    error.closest('form').reset();
    say(error, `${user.name} was added. They can sign in with that email and password.`, true);
    renderPeople();
  } catch (err) {
    if (err.status === 401) return failed(err, '');
    say(error, err.code === 'EMAIL_TAKEN' ? 'Someone already has this email.' : err.message);
  }
}

// --- the join link -----------------------------------------------------------------------

async function newJoinLink() {
  if (!(await confirmAction('Make a new join link? The current link stops working at once.', 'Make a new link'))) return;
  try {
    const { account } = await api.newJoinCode();
    state.account = account;
    if (!$('people-admin').open) return;
    $('join-url').value = account.join_url;
    say($('join-status'), 'A new join link is ready; the old one no longer works.', true);
  } catch (err) {
    failed(err, 'Could not make a new join link');
  }
}

// --- account settings ---------------------------------------------------------------------

async function saveAccount(event) {
  event.preventDefault();
  const name = $('account-name-input').value.trim();
  if (!name) return say($('account-status'), 'Please enter a name.');
  try {
    const { account } = await api.updateAccount({
      name, members_can_create_open_rooms: $('account-open-rooms').checked,
    });
    state.account = account;
    state.accountName = account.name;
    showAccount();
    if ($('people-admin').open) say($('account-status'), 'Saved.', true);
  } catch (err) {
    if (err.status === 401) return failed(err, '');
    say($('account-status'), err.message);
  }
}

// --- bots ----------------------------------------------------------------------------------

async function loadBots() {
  try {
    ({ bots } = await api.bots());
  } catch (err) {
    return failed(err, 'Could not load the bots');
  }
  renderBots();
  renderPeople();
}

function renderBots() {
  const list = $('bot-list');
  if (!list) return;
  list.replaceChildren();
  for (const bot of bots) {
    const li = el('li', 'person-row bot-row');
    li.dataset.botId = bot.id;
    const who = el('div', 'person-who');
    const name = el('strong', 'person-name', bot.name);
    name.title = bot.name;
    who.append(name, el('span', 'tag role-bot', 'bot'));
    const facts = el('div', 'person-facts bot-facts');
    const hook = el('span', 'bot-webhook', bot.webhook_url ? `Webhook: ${bot.webhook_url}` : 'No webhook');
    hook.title = bot.webhook_url || '';
    facts.append(hook);
    if (bot.last_error) {
      const error = el('span', 'bot-error');
      error.append(`Last error: ${bot.last_error} `, timeEl(bot.last_error_at));
      facts.append(error);
    }
    const actions = el('div', 'person-actions');
    actions.append(
      button('Webhook…', `Change the webhook of ${bot.name}`, () => editWebhook(bot, li)),
      button('Reset key…', `Reset the key of ${bot.name}`, () => resetKey(bot)),
      button('Remove…', `Remove ${bot.name}`, () => removeBot(bot), 'danger-button'),
    );
    li.append(who, facts, actions);
    list.append(li);
  }
  if (!bots.length) list.append(el('li', 'muted', 'No bots yet.'));
}

/** Show a bot's key (once) and its webhook secret, to copy. */
function showBotSecrets(bot, key) {
  const box = $('bot-out');
  if (!box) return;
  box.replaceChildren();
  if (key) {
    showCopyBox(box, `Key of ${bot.name}`, key,
      'Copy it now: it is shown only this once. Scripts post with it to /rooms/ROOM_ID/KEY/messages.');
  }
  if (bot.webhook_secret) {
    showCopyBox(box, `Webhook secret of ${bot.name}`, bot.webhook_secret,
      'Check X-Campfire-Signature (HMAC-SHA256 of the body) with it.');
  }
  box.scrollIntoView({ block: 'nearest' });
}

async function addBot(event) {
  event.preventDefault();
  const name = $('bot-name').value.trim();
  const webhook = $('bot-webhook').value.trim();
  if (!name) return say($('add-bot-error'), 'Please enter a name for the bot.');
  try {
    const { bot, bot_key: key } = await api.createBot(name, webhook);
    if (!$('people-admin').open) return;
    $('add-bot-form').reset();
    say($('add-bot-error'), `${bot.name} was added.`, true);
    showBotSecrets(bot, key);
    await loadBots();
  } catch (err) {
    if (err.status === 401) return failed(err, '');
    say($('add-bot-error'), err.message);
  }
}

function editWebhook(bot, li) {
  if (li.querySelector('.webhook-form')) return;
  const form = el('form', 'webhook-form');
  const id = `webhook-${bot.id}`;
  const label = el('label', null, `Webhook URL of ${bot.name} (empty: none)`);
  label.htmlFor = id;
  const input = el('input');
  input.id = id;
  input.type = 'url';
  input.value = bot.webhook_url || '';
  const error = el('p', 'error');
  error.setAttribute('role', 'alert');
  const save = el('button', 'small-button', 'Save webhook');
  save.type = 'submit';
  form.append(label, input, save, button('Cancel', null, () => form.remove()), error);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      const { bot: changed } = await api.updateBot(bot.id, { webhook_url: input.value.trim() || null });
      showBotSecrets(changed, null);
      await loadBots();
    } catch (err) {
      if (err.status === 401) return failed(err, '');
      say(error, err.message);
    }
  });
  li.append(form);
  input.focus();
}

async function resetKey(bot) {
  if (!(await confirmAction(`Reset the key of ${bot.name}? Scripts using the old key stop working at once.`, 'Reset key'))) return;
  try {
    const { bot_key: key } = await api.resetBotKey(bot.id);
    const { bot: full } = await api.getBot(bot.id);
    showBotSecrets(full, key);
  } catch (err) {
    failed(err, 'Could not reset the key');
  }
}

async function removeBot(bot) {
  if (!(await confirmAction(`Remove ${bot.name}? Its key and webhook stop working; its messages stay.`, 'Remove bot'))) return;
  try {
    await api.removeBot(bot.id);
    if ($('bot-out')) $('bot-out').hidden = true;
    await loadBots();
  } catch (err) {
    failed(err, 'Could not remove the bot');
  }
}

// --- the panel -------------------------------------------------------------------------------

function selectTab(name, focus = false) {
  for (const tab of TABS) {
    const selected = tab === name;
    $(`tab-${tab}`).setAttribute('aria-selected', String(selected));
    $(`tab-${tab}`).tabIndex = selected ? 0 : -1;
    $(`pane-${tab}`).hidden = !selected;
  }
  if (focus) $(`tab-${name}`).focus();
}

async function open() {
  if (!state.me.is_admin) return;
  openPanel('people-admin');
  wirePanel();
  renderPeople();
  try {
    const [{ account }, { users }] = await Promise.all([api.account(), api.users()]);
    if (!$('people-admin').open) return;
    state.account = account;
    $('join-url').value = account.join_url || '';
    $('account-name-input').value = account.name;
    $('account-open-rooms').checked = account.members_can_create_open_rooms;
    state.users = new Map(users.map((u) => [u.id, u])); // with last_active_at
  } catch (err) {
    return failed(err, 'Could not load people');
  }
  await loadBots();
}

/** Wire the panel's controls (fresh from its template each time it opens). */
function wirePanel() {
  $('join-copy').addEventListener('click', async () => {
    const copied = await copyText($('join-url').value, $('join-url'));
    say($('join-status'), copied ? 'Copied the join link.' : 'Selected: press Ctrl+C to copy.', copied);
  });
  $('join-new').addEventListener('click', newJoinLink);
  $('add-person-form').addEventListener('submit', addPerson);
  $('account-form').addEventListener('submit', saveAccount);
  $('add-bot-form').addEventListener('submit', addBot);
  TABS.forEach((tab, i) => {
    $(`tab-${tab}`).addEventListener('click', () => selectTab(tab));
    $(`tab-${tab}`).addEventListener('keydown', (event) => {
      const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
      if (step) selectTab(TABS[(i + step + TABS.length) % TABS.length], true);
    });
  });
}

/** Wire the People & settings button, and follow people's changes while the panel is open. */
export function wirePeopleAdmin() {
  $('open-people-admin').addEventListener('click', open);
  on('UserUpdated', () => {
    if ($('people-admin').open) renderPeople();
  });
}
