// Small pieces the team screens share: panels (dialogs), asking to confirm, copying a link or
// key, times, and a picker that searches people by name.
import { el, fullTime } from './render.js';
import { $, state } from './state.js';

/**
 * Open a panel (a <dialog>) as a modal, its content fresh from its template (`tpl-<id>`): the
 * forms exist only while the panel is open, and it opens in its first state every time. Its
 * [data-close] buttons, Escape and a click on the backdrop close it.
 */
export function openPanel(id) {
  const dialog = $(id);
  if (dialog.open) return dialog;
  dialog.replaceChildren($(`tpl-${id}`).content.cloneNode(true));
  for (const button of dialog.querySelectorAll('[data-close]')) {
    button.addEventListener('click', () => dialog.close());
  }
  dialog.showModal();
  return dialog;
}

/** Empty panels when they close, and close them by a click on the backdrop. */
export function wirePanels() {
  for (const dialog of document.querySelectorAll('dialog.panel')) {
    dialog.addEventListener('click', (event) => {
      if (event.target === dialog) dialog.close(); // the backdrop, outside the panel's box
    });
    if (dialog.id !== 'confirm-dialog') dialog.addEventListener('close', () => dialog.replaceChildren());
  }
  $('confirm-ok').addEventListener('click', () => $('confirm-dialog').close('ok'));
  $('confirm-cancel').addEventListener('click', () => $('confirm-dialog').close('cancel'));
}

/** Ask before something that cannot be undone; resolves true when the person confirms. */
export function confirmAction(text, action) {
  const dialog = $('confirm-dialog');
  $('confirm-text').textContent = text;
  $('confirm-ok').textContent = action;
  dialog.returnValue = '';
  dialog.showModal();
  $('confirm-cancel').focus(); // the safe choice has the focus
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
  });
}

/** Put text on the clipboard; where the page may not (plain HTTP), select it to copy by hand. */
export async function copyText(text, input) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    if (input) {
      input.focus();
      input.select();
    }
    return false;
  }
}

/**
 * A box showing a secret or a link to copy: a heading line, a read-only field with a Copy
 * button, and an optional note under it. Replaces what `box` held.
 */
export function showCopyBox(box, label, value, note = '') {
  const id = `${box.id}-value-${Math.random().toString(36).slice(2, 8)}`;
  const title = el('label', 'copy-label', label);
  title.htmlFor = id;
  const input = el('input');
  input.id = id;
  input.readOnly = true;
  input.value = value;
  const button = el('button', 'small-button', 'Copy');
  button.type = 'button';
  button.setAttribute('aria-label', `Copy ${label.toLowerCase()}`);
  const said = el('span', 'copy-said muted');
  said.setAttribute('role', 'status');
  button.addEventListener('click', async () => {
    said.textContent = (await copyText(value, input)) ? 'Copied.' : 'Selected: press Ctrl+C to copy.';
  });
  const row = el('div', 'copy-row');
  row.append(input, button);
  box.append(title, row, said);
  if (note) box.append(el('p', 'muted copy-note', note));
  box.hidden = false;
  return input;
}

/** "3 min ago", "2 h ago", "4 Mar"; '' for none. With the full time as a title by `timeEl`. */
export function ago(iso, now = Date.now()) {
  if (!iso) return '';
  const seconds = Math.max(0, (now - new Date(iso).getTime()) / 1000);
  if (seconds < 60) return 'just now';
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
  if (seconds < 86400 * 30) return `${Math.floor(seconds / 86400)} d ago`;
  return new Date(iso).toLocaleDateString([], { day: 'numeric', month: 'short', year: 'numeric' });
}

/** A <time> element saying how long ago, with the full date and time on hover. */
export function timeEl(iso, fallback = 'never') {
  if (!iso) return el('span', 'muted', fallback);
  const time = el('time', null, ago(iso));
  time.dateTime = iso;
  time.title = fullTime(iso);
  return time;
}

/**
 * A combobox that searches people by name: typing lists the matches (↑/↓, Enter, or a click
 * picks one). `candidates()` gives the people who may be picked now; `onPick(user)` takes one.
 */
export function wirePicker(input, list, candidates, onPick) {
  let matches = [];
  let active = 0;
  const close = () => {
    list.hidden = true;
    input.setAttribute('aria-expanded', 'false');
    input.removeAttribute('aria-activedescendant');
  };
  const render = () => {
    list.replaceChildren();
    matches.forEach((user, i) => {
      const li = el('li', 'picker-item', user.name);
      li.id = `${list.id}-${i}`;
      li.setAttribute('role', 'option');
      li.setAttribute('aria-selected', String(i === active));
      li.title = user.name;
      li.addEventListener('mousedown', (event) => event.preventDefault()); // keep the focus
      li.addEventListener('click', () => pick(i));
      list.append(li);
    });
    if (!matches.length) list.append(el('li', 'picker-empty muted', 'Nobody matches.'));
    list.hidden = false;
    input.setAttribute('aria-expanded', 'true');
    if (matches.length) input.setAttribute('aria-activedescendant', `${list.id}-${active}`);
    else input.removeAttribute('aria-activedescendant');
  };
  const update = () => {
    const q = input.value.trim().toLocaleLowerCase();
    if (!q) return close();
    matches = candidates()
      .filter((user) => user.name.toLocaleLowerCase().includes(q))
      .sort((a, b) => a.name.localeCompare(b.name))
      .slice(0, 8);
    active = 0;
    render();
  };
  const pick = (i) => {
    const user = matches[i];
    if (!user) return;
    input.value = '';
    close();
    onPick(user);
  };
  input.addEventListener('input', update);
  input.addEventListener('blur', close);
  input.addEventListener('keydown', (event) => {
    if (list.hidden) return;
    if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
      event.preventDefault();
      if (matches.length) active = (active + (event.key === 'ArrowDown' ? 1 : matches.length - 1)) % matches.length;
      render();
    } else if (event.key === 'Enter') {
      event.preventDefault();
      pick(active);
    } else if (event.key === 'Escape') {
      event.preventDefault(); // close the list, not the whole panel
      event.stopPropagation();
      close();
    }
  });
}

/** Active people other than the signed-in one. */
export function otherActivePeople() {
  return [...state.users.values()].filter((u) => u.id !== state.me.id && u.is_active !== false);
}

/** Say how something went under a form: a problem (red) or, with `ok`, that it worked. */
export function say(node, text, ok = false) {
  if (!node) return; // its panel closed meanwhile
  node.textContent = text;
  node.classList.toggle('ok', ok);
}
