// Running a team from the browser: one entry that wires the live directory, room settings and
// the involvement bell, my account, and (administrators) people & settings.
import { loadAccount, wireDirectory } from './directory.js';
import { wireMyAccount } from './my-account.js';
import { wirePeopleAdmin } from './people-admin.js';
import { wireRoomSettings } from './room-settings.js';
import { wirePanels } from './ui.js';

/** Wire every team screen and read the account's name (shown before signing in too). */
export function wireTeam() {
  wirePanels();
  wireDirectory();
  wireRoomSettings();
  wireMyAccount();
  wirePeopleAdmin();
  loadAccount();
}
