// The app shell: signing in from a login link, the account and its folders in the sidebar, and the routes.
import { h, replace, toast } from './dom.js';
import * as api from './api.js';
import { showFolder, showMessage, showSearch } from './mail.js';
import { showCompose } from './compose.js';
import { showContacts, showContact } from './contacts.js';
import { showAccount } from './account.js';

export const state = { accounts: [], account: null, folders: [] };

const main = () => document.getElementById('main');

function signedOut(reason) {
  document.getElementById('sidebar').replaceChildren();
  replace(main(), h('section', { class: 'signed-out pad', id: 'signed-out' },
    h('h1', null, 'Signed out'),
    h('p', null, reason ?? 'This browser has no session with the Letterlock bridge.'),
    h('p', null, 'Run ', h('code', null, 'letterlock web'), ' for a new one-time login link (the bridge prints one when it starts, too).')));
}

async function start() {
  api.whenSignedOut(() => signedOut('The session ended (the bridge restarted, or it was idle too long).'));
  if (location.pathname === '/login') {
    const token = location.hash.slice(1);
    // The token leaves the address bar at once: it is good for one use, and nothing else should see it.
    history.replaceState(null, '', '/');
    try {
      await api.signIn(token);
    } catch (e) {
      signedOut(`That login link did not work: ${e.message}`);
      return;
    }
  }
  if (!api.hasSession()) {
    signedOut();
    return;
  }
  try {
    state.accounts = await api.get('/api/accounts');
  } catch (e) {
    if (e.status !== 401) signedOut(e.message);
    return;
  }
  const select = document.getElementById('account-select');
  replace(select, state.accounts.map(a => h('option', { value: a.id }, a.address)));
  select.hidden = state.accounts.length < 2;
  select.addEventListener('change', () => { location.hash = `#/a/${select.value}`; });
  document.getElementById('search-form').addEventListener('submit', event => {
    event.preventDefault();
    const q = document.getElementById('search-input').value.trim();
    if (q && state.account) location.hash = `#/a/${state.account.id}/search?q=${api.enc(q)}`;
  });
  window.addEventListener('hashchange', route);
  await route();
}

/** Reloads the sidebar's folders (counts change as mail is read and moved). */
export async function refreshFolders() {
  if (!state.account) return;
  state.folders = await api.get(`/api/accounts/${state.account.id}/folders`);
  renderSidebar();
}

function renderSidebar() {
  const a = state.account;
  const current = location.hash;
  const link = (href, label, extra) => h('a', { href, class: current.startsWith(href) ? 'active' : null }, label, extra);
  replace(document.getElementById('sidebar'),
    h('a', { class: 'button primary compose', href: `#/a/${a.id}/compose`, id: 'compose-button' }, 'Write'),
    h('ul', { class: 'folders' }, state.folders.map(f => h('li', { dataset: { role: f.role } },
      link(`#/a/${a.id}/f/${f.id}`, displayName(f), f.unread > 0 ? h('span', { class: 'count' }, String(f.unread)) : null)))),
    h('ul', { class: 'folders other' },
      h('li', null, link(`#/a/${a.id}/contacts`, 'Contacts & trust')),
      h('li', null, link(`#/a/${a.id}/account`, 'Account & devices'))),
    h('button', { class: 'link signout', onclick: async () => { await api.signOut(); signedOut('You signed out.'); } }, 'Sign out'));
}

export function displayName(folder) {
  return folder.role === 'Inbox' ? 'Inbox' : folder.name;
}

async function route() {
  const [path, query] = location.hash.slice(1).split('?');
  const params = new URLSearchParams(query ?? '');
  const parts = path.split('/').filter(Boolean);
  const accountId = parts[0] === 'a' ? parts[1] : state.accounts[0]?.id;
  const account = state.accounts.find(a => a.id === accountId) ?? state.accounts[0];
  if (!account) {
    replace(main(), h('p', { class: 'pad' }, 'This client has no account yet: create one with ', h('code', null, 'letterlock account create'), '.'));
    return;
  }
  const switched = state.account?.id !== account.id;
  state.account = account;
  document.getElementById('account-select').value = account.id;
  if (switched || state.folders.length === 0) await refreshFolders(); else renderSidebar();
  const view = parts[2];
  try {
    if (view === 'f') await showFolder(parts[3], Number(params.get('o') ?? 0));
    else if (view === 'm') await showMessage(parts[3]);
    else if (view === 'compose') await showCompose(params);
    else if (view === 'search') await showSearch(params.get('q') ?? '');
    else if (view === 'contacts' && parts[3]) await showContact(decodeURIComponent(parts[3]));
    else if (view === 'contacts') await showContacts();
    else if (view === 'account') await showAccount();
    else {
      const inbox = state.folders.find(f => f.role === 'Inbox') ?? state.folders[0];
      location.replace(`#/a/${account.id}/f/${inbox.id}`);
    }
  } catch (e) {
    if (e.status === 401) return;
    replace(main(), h('div', { class: 'pad error' }, h('h2', null, e.title ?? 'Something went wrong'), h('p', null, e.message)));
  }
}

window.addEventListener('unhandledrejection', event => {
  if (event.reason?.status !== 401) toast(event.reason?.message ?? String(event.reason), 'bad');
});

start();
