// The join page (/join/{code}): a person picks name, email and password and is signed in.
import { request } from './api.js';

const $ = (id) => document.getElementById(id);
const code = decodeURIComponent(location.pathname.slice('/join/'.length));
const joinPath = `/api/join/${encodeURIComponent(code)}`;

/** Show why the link cannot be used, instead of the form. */
function problem(text) {
  $('loading').hidden = true;
  $('join-form').hidden = true;
  $('join-problem').hidden = false;
  $('join-problem-text').textContent = text;
}

/** Ask the server whether the code is valid; show the form named after the Campfire. */
async function start() {
  try {
    const { account } = await request('GET', joinPath);
    $('account-name').textContent = account.name;
    document.title = `Join ${account.name}`;
    $('loading').hidden = true;
    $('join-form').hidden = false;
    $('join-name').focus();
  } catch (err) {
    problem(err.message);
  }
}

$('join-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  $('join-error').textContent = '';
  $('join-submit').disabled = true;
  try {
    await request('POST', joinPath, {
      name: $('join-name').value,
      email: $('join-email').value,
      password: $('join-password').value,
    });
    location.assign('/'); // signed in: the session cookie is set
  } catch (err) {
    if (err.code === 'INVALID_JOIN_CODE') problem(err.message);
    else $('join-error').textContent = err.message;
    $('join-submit').disabled = false;
  }
});

start();
