// The login-link page (/login-link/{token}): signs a person in, optionally with a new password.
// The link is used only when the person presses the button, so a link preview cannot spend it.
import { request } from './api.js';

const $ = (id) => document.getElementById(id);
const token = decodeURIComponent(location.pathname.slice('/login-link/'.length));
const linkPath = `/api/login_links/${encodeURIComponent(token)}`;
const PROBLEMS = ['LOGIN_LINK_INVALID', 'LOGIN_LINK_USED', 'LOGIN_LINK_EXPIRED', 'FORBIDDEN'];

/** Show why the link cannot be used, instead of the form. */
function problem(text) {
  $('loading').hidden = true;
  $('link-form').hidden = true;
  $('link-problem').hidden = false;
  $('link-problem-text').textContent = text;
}

/** Ask the server whom the link signs in (without using it). */
async function start() {
  try {
    const { user } = await request('GET', linkPath);
    $('link-title').textContent = `Sign in as ${user.name}`;
    $('loading').hidden = true;
    $('link-form').hidden = false;
    $('link-password').focus();
  } catch (err) {
    problem(err.message);
  }
}

$('link-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  $('link-error').textContent = '';
  $('link-submit').disabled = true;
  const password = $('link-password').value;
  try {
    await request('POST', linkPath, password ? { password } : {});
    location.assign('/'); // signed in: the session cookie is set
  } catch (err) {
    if (PROBLEMS.includes(err.code)) problem(err.message);
    else $('link-error').textContent = err.message;
    $('link-submit').disabled = false;
  }
});

start();
