// Folders, message lists, one message (its banner drawn here, its content in a sandboxed frame), search.
import { h, replace, formatDate, formatSize, toast, icon } from './dom.js';
import * as api from './api.js';
import { state, refreshFolders, displayName } from './app.js';

const main = () => document.getElementById('main');
const base = () => `/api/accounts/${state.account.id}`;

function lock(encryption) {
  return encryption === 'end-to-end'
    ? h('span', { class: 'lock e2e', title: 'End-to-end encrypted' }, icon('lock', 'End-to-end encrypted'))
    : h('span', { class: 'lock' });
}

export function messageRows(messages, showFolder) {
  return h('ul', { class: 'messages', id: 'message-list' }, messages.map(m => {
    const folder = showFolder ? state.folders.find(f => f.id === m.folderId) : null;
    return h('li', { class: m.seen ? 'seen' : 'unread', dataset: { id: m.id } },
      h('a', { href: `#/a/${state.account.id}/m/${m.id}` },
        h('span', { class: 'flag' }, m.flagged ? '★' : ''),
        lock(m.encryption),
        h('span', { class: 'from' }, m.from ?? '(no sender)'),
        h('span', { class: 'subject' }, m.subject || '(no subject)', m.thread > 1 ? h('span', { class: 'thread' }, String(m.thread)) : null),
        h('span', { class: folder ? 'folder-tag' : null }, folder ? displayName(folder) : ''),
        h('time', { datetime: m.date }, formatDate(m.date))));
  }));
}

export async function showFolder(folderId, offset) {
  const size = 50;
  const page = await api.get(`${base()}/folders/${folderId}/messages?offset=${offset}&size=${size}`);
  const folder = state.folders.find(f => f.id === folderId);
  const pager = h('div', { class: 'pager' },
    h('span', { class: 'muted' }, page.total === 0 ? 'No messages' : `${offset + 1}–${Math.min(offset + size, page.total)} of ${page.total}`),
    offset > 0 ? h('a', { class: 'button', href: `#/a/${state.account.id}/f/${folderId}?o=${Math.max(0, offset - size)}` }, 'Newer') : null,
    offset + size < page.total ? h('a', { class: 'button', id: 'older', href: `#/a/${state.account.id}/f/${folderId}?o=${offset + size}` }, 'Older') : null);
  replace(main(), h('section', { class: 'folder-view' },
    h('div', { class: 'view-head' },
      h('h1', null, folder ? displayName(folder) : 'Folder', page.unread > 0 ? h('span', { class: 'muted' }, ` · ${page.unread} unread`) : null), pager),
    page.messages.length ? messageRows(page.messages, false) : h('p', { class: 'pad muted' }, 'Nothing here.')));
}

export async function showSearch(query) {
  document.getElementById('search-input').value = query;
  replace(main(), h('p', { class: 'pad muted' }, 'Searching…'));
  let result;
  try {
    result = await api.get(`${base()}/search?q=${api.enc(query)}`);
  } catch (e) {
    replace(main(), h('section', { class: 'folder-view', id: 'search-results' },
      h('div', { class: 'view-head' }, h('h1', null, 'Search')),
      h('p', { class: 'pad', id: 'search-problem' }, e.detail || e.message),
      searchHelp()));
    return;
  }
  replace(main(), h('section', { class: 'folder-view', id: 'search-results' },
    h('div', { class: 'view-head' }, h('h1', null, 'Search'), h('span', { class: 'muted' }, `${result.total} found for “${query}”`)),
    result.detail ? h('p', { class: 'pad muted' }, result.detail) : null,
    result.messages.length ? messageRows(result.messages, true) : [h('p', { class: 'pad muted' }, 'No message matches every term.'), searchHelp()]));
}

/** The search syntax, the same as `letterlock search` on the command line. */
function searchHelp() {
  const term = (code, text) => h('li', null, h('code', null, code), ' ', text);
  return h('ul', { class: 'pad muted small', id: 'search-help' },
    term('word "a phrase"', 'every word and phrase must occur'),
    term('from:carol to:dave subject:report body:figures', 'look in one field'),
    term('date:2026-01-01..2026-03-31', 'by date (either end may be left out)'),
    term('folder:INBOX is:unread is:flagged', 'by folder and state'));
}

/** The security banner: built from what the client recorded, outside and above the message's frame. */
function banner(b) {
  const line = (tone, mark, text) => h('div', { class: `banner-line ${tone}` }, h('span', { class: 'mark', 'aria-hidden': 'true' }, mark), h('span', null, text));
  return h('section', {
    class: `security-banner ${b.tone}`, id: 'security-banner', role: 'note', 'aria-label': 'Security of this message',
    dataset: { encryption: b.encryption, signature: b.signature, tone: b.tone, trust: b.trustNow ?? b.trustAtReceipt ?? '' },
  },
  h('div', { class: 'banner-title' }, 'Letterlock security check', h('span', { class: 'muted' }, ' · shown by your client, not by the message')),
  line(b.encryptionTone, icon(b.encryption === 'end-to-end' ? 'lock' : b.encryption === 'failed' ? 'warn' : 'mail'), b.encryptionText),
  line(b.signatureTone, b.signature === 'valid' ? '✔' : b.signature === 'invalid' ? '✖' : '–', b.signatureText),
  b.signerFingerprint ? h('div', { class: 'banner-detail' },
    `Key ${b.signerFingerprint}`, b.trustAtReceipt ? ` · trust when it arrived: ${b.trustAtReceipt}` : null,
    b.trustNow && b.trustNow !== b.trustAtReceipt ? ` · now: ${b.trustNow}` : null,
    ' · ', h('a', { href: `#/a/${state.account.id}/contacts/${api.enc(b.signer)}` }, 'check this contact')) : null);
}

function remoteNotice(message) {
  const r = message.remote;
  if (r.reason) return h('div', { class: 'remote-notice muted', id: 'remote-notice' }, r.reason);
  if (r.allowed) {
    return h('div', { class: 'remote-notice', id: 'remote-notice' }, `Remote images from ${r.sender} are loaded (you allowed them). `,
      h('button', { class: 'link', id: 'block-remote', onclick: () => setRemote(message, false) }, 'Stop loading them'));
  }
  if (r.blocked === 0) return null;
  return h('div', { class: 'remote-notice', id: 'remote-notice' },
    `${r.blocked} remote reference${r.blocked === 1 ? ' was' : 's were'} blocked (images or styles that would tell the sender you read this). `,
    r.canAllow ? h('button', { class: 'link', id: 'allow-remote', onclick: () => setRemote(message, true) }, `Always load remote images from ${r.sender}`) : null);
}

async function setRemote(message, allow) {
  await api.post(`${base()}/remote-images`, { sender: message.remote.sender, allow });
  await showMessage(message.id);
}

export async function showMessage(id) {
  const m = await api.get(`${base()}/messages/${id}`);
  if (!m.seen) {
    await api.post(`${base()}/messages/${id}/flags`, { seen: true });
    refreshFolders();
  }
  const addresses = list => list.map(a => (a.name ? `${a.name} <${a.address}>` : a.address)).join(', ');
  const isDraft = m.folderRole === 'Drafts';
  const act = (label, mode, extra) => h('a', { class: 'button', href: `#/a/${state.account.id}/compose?mode=${mode}&m=${m.id}`, ...extra }, label);
  const moveTargets = state.folders.filter(f => f.id !== m.folderId);
  const backToFolder = async (text) => {
    toast(text);
    await refreshFolders();
    location.hash = `#/a/${state.account.id}/f/${m.folderId}`;
  };
  const actions = h('div', { class: 'actions' },
    isDraft ? act('Edit draft', 'draft', { id: 'edit-draft' })
      : [act('Reply', 'reply', { id: 'reply' }), act('Reply all', 'all', { id: 'reply-all' }), act('Forward', 'forward', { id: 'forward' })],
    h('button', { class: 'button', id: 'flag', onclick: async () => { await api.post(`${base()}/messages/${id}/flags`, { flagged: !m.flagged }); await showMessage(id); } },
      m.flagged ? 'Unflag' : 'Flag'),
    h('button', { class: 'button', id: 'mark-unread', onclick: async () => { await api.post(`${base()}/messages/${id}/flags`, { seen: false }); await backToFolder('Marked unread.'); } },
      'Mark unread'),
    h('select', {
      class: 'button', 'aria-label': 'Move to', id: 'move-to',
      onchange: async event => {
        if (!event.target.value) return;
        await api.post(`${base()}/messages/${id}/move`, { folder: event.target.value });
        await backToFolder('Moved.');
      },
    }, h('option', { value: '' }, 'Move to…'), moveTargets.map(f => h('option', { value: f.id }, displayName(f)))),
    h('button', { class: 'button danger', id: 'delete', onclick: async () => {
      await api.del(`${base()}/messages/${id}`);
      await backToFolder(m.folderRole === 'Trash' ? 'Deleted.' : 'Moved to Trash.');
    } }, 'Delete'),
    m.newer ? h('a', { class: 'button', href: `#/a/${state.account.id}/m/${m.newer}`, title: 'Newer message' }, '↑') : null,
    m.older ? h('a', { class: 'button', href: `#/a/${state.account.id}/m/${m.older}`, title: 'Older message' }, '↓') : null);
  const frame = h('iframe', {
    id: 'message-frame', class: 'message-frame', title: 'Message content',
    // No allow-scripts, no allow-same-origin, no allow-forms: the content runs nothing and reaches nothing of the app.
    sandbox: 'allow-popups allow-popups-to-escape-sandbox', referrerpolicy: 'no-referrer', src: m.frameUrl,
  });
  replace(main(), h('article', { class: 'message-view', dataset: { id: m.id } },
    actions,
    banner(m.banner),
    h('header', { class: 'message-head' },
      h('h1', { id: 'message-subject' }, m.subject || '(no subject)'),
      h('dl', null,
        h('dt', null, 'From'), h('dd', null, addresses(m.from)),
        h('dt', null, 'To'), h('dd', null, addresses(m.to)),
        m.cc.length ? [h('dt', null, 'Cc'), h('dd', null, addresses(m.cc))] : null,
        h('dt', null, 'Date'), h('dd', null, new Date(m.date).toLocaleString()))),
    m.thread.length ? h('details', { class: 'thread-list', open: true }, h('summary', null, `Conversation (${m.thread.length})`),
      h('ol', null, m.thread.map(t => h('li', { class: t.current ? 'current' : null },
        t.current ? h('span', null, `${t.from ?? ''} · ${t.subject ?? ''}`)
          : h('a', { href: `#/a/${state.account.id}/m/${t.id}` }, `${t.from ?? ''} · ${t.subject ?? ''}`),
        t.date ? h('time', null, ` ${formatDate(t.date)}`) : null)))) : null,
    m.attachments.length ? h('ul', { class: 'attachments', id: 'attachments' }, m.attachments.map(a => h('li', null,
      h('button', { class: 'link', onclick: () => api.download(`${base()}/messages/${id}/attachments/${a.index}`, a.name) }, icon('clip'), ` ${a.name}`),
      h('span', { class: 'muted' }, ` ${formatSize(a.size)}`)))) : null,
    remoteNotice(m),
    h('div', { class: 'frame-box' }, h('div', { class: 'frame-label', 'aria-hidden': 'true' }, 'Message content, as the sender wrote it'), frame)));
}
