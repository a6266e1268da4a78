// Contacts and trust: levels, keys and their history; verifying by safety number, fingerprint or QR code; deciding about a changed key.
import { h, replace, qr, formatDate, toast, icon } from './dom.js';
import * as api from './api.js';
import { state } from './app.js';

const main = () => document.getElementById('main');
const base = () => `/api/accounts/${state.account.id}`;

const levelText = {
  verified: 'You confirmed this key.',
  transparent: 'Proof-checked in the provider’s transparency log; not confirmed by you yet.',
  tofu: 'The first key seen for them, unchanged since; not confirmed by you yet.',
  changed: 'A different key appeared: nothing is encrypted to them until you decide.',
  none: 'No key known.',
};

const badge = level => h('span', { class: `level ${level}`, dataset: { level } }, level);

export async function showContacts() {
  const contacts = await api.get(`${base()}/contacts`);
  replace(main(), h('section', { class: 'contacts', id: 'contacts' },
    h('div', { class: 'view-head' }, h('h1', null, 'Contacts & trust'), h('span', { class: 'muted' }, `${contacts.length} contacts`)),
    contacts.length === 0 ? h('p', { class: 'pad muted' }, 'Contacts appear here when you write to or hear from someone.') :
      h('table', { class: 'contact-table' },
        h('thead', null, h('tr', null, h('th', null, 'Address'), h('th', null, 'Level'), h('th', null, 'Key'))),
        h('tbody', null, contacts.map(c => h('tr', { class: c.pending ? 'pending' : null },
          h('td', null, h('a', { href: `#/a/${state.account.id}/contacts/${api.enc(c.address)}` }, c.name ? `${c.name} <${c.address}>` : c.address)),
          h('td', null, badge(c.level)),
          h('td', { class: 'mono' }, c.fingerprint ?? '–')))))));
}

export async function showContact(address) {
  const c = await api.get(`${base()}/contacts/${api.enc(address)}`);
  render(c);
}

async function decide(c, action, fingerprint) {
  try {
    const updated = await api.post(`${base()}/contacts/${api.enc(c.address)}/${action}`, { fingerprint });
    toast(action === 'verify' ? `${c.address}: key verified.` : `${c.address}: key accepted.`, 'good');
    render(updated);
  } catch (e) {
    toast(e.message, 'bad');
  }
}

function keyBlock(title, key) {
  return h('div', { class: 'key' }, h('h3', null, title),
    h('div', { class: 'mono fingerprint' }, key.display),
    h('div', { class: 'muted' }, `from ${key.origin}, first seen ${formatDate(key.since)}`));
}

function render(c) {
  const fingerprintInput = h('input', { id: 'verify-fingerprint-input', type: 'text', placeholder: 'Fingerprint they read to you (40 hex digits)', spellcheck: 'false' });
  const scanInput = h('input', { id: 'scan-input', type: 'text', placeholder: 'OPENPGP4FPR:… (the text of their QR code)', spellcheck: 'false' });
  const changed = c.candidate
    ? h('section', { class: 'changed-key', id: 'changed-key' },
      h('h2', null, icon('warn'), ' This contact’s key changed'),
      h('p', null, `A different key was seen for ${c.address}. Until you decide, no mail is encrypted to them automatically. `,
        'Ask them, through a channel you trust (in person, by phone), which key is theirs.'),
      h('div', { class: 'keys' }, keyBlock('Key you had', c.pinned), keyBlock('New key', c.candidate)),
      h('p', { class: 'muted' }, 'Evidence: ', latestChange(c)),
      h('div', { class: 'actions' },
        h('button', { class: 'button primary', id: 'accept-new-key', onclick: () => decide(c, 'accept', c.candidate.fingerprint) }, 'Accept the new key'),
        h('button', { class: 'button', id: 'keep-old-key', onclick: () => decide(c, 'accept', c.pinned.fingerprint) }, 'Keep the old key (reject the change)')))
    : null;
  const safety = c.safety
    ? h('section', { class: 'safety', id: 'safety' },
      h('h2', null, 'Verify'),
      h('p', null, `Compare this number with the one ${c.address} sees for you (in person or by phone). If all 60 digits match, both of you hold each other’s real key.`),
      h('div', { class: 'safety-number mono', id: 'safety-number' }, c.safety.number),
      h('div', { class: 'actions' },
        h('button', { class: 'button primary', id: 'verify-safety', onclick: () => decide(c, 'verify', c.pinned.fingerprint) }, 'The numbers match: mark as verified')),
      h('div', { class: 'qr-pair' },
        h('figure', null, qr(c.safety.qr.modules), h('figcaption', { class: 'muted' }, 'Your key: let them scan this')),
        h('div', null,
          h('p', null, 'Or scan their code with another device and paste its text:'),
          h('div', { class: 'inline' }, scanInput, h('button', { class: 'button', id: 'scan-verify', onclick: async () => {
            try {
              render(await api.post(`${base()}/contacts/${api.enc(c.address)}/scan`, { payload: scanInput.value }));
              toast(`${c.address}: key verified by QR code.`, 'good');
            } catch (e) { toast(e.message, 'bad'); }
          } }, 'Check')),
          cameraScan(scanInput),
          h('p', null, 'Or compare fingerprints:'),
          h('div', { class: 'mono muted' }, `Theirs here: ${c.safety.theirs}`),
          h('div', { class: 'mono muted' }, `Yours: ${c.safety.mine}`),
          h('div', { class: 'inline' }, fingerprintInput,
            h('button', { class: 'button', id: 'verify-fingerprint', onclick: () => decide(c, 'verify', fingerprintInput.value) }, 'Verify')))))
    : null;
  replace(main(), h('section', { class: 'contact', id: 'contact', dataset: { level: c.level } },
    h('div', { class: 'view-head' }, h('h1', null, c.name ? `${c.name} <${c.address}>` : c.address),
      h('a', { class: 'button', href: `#/a/${state.account.id}/contacts` }, 'All contacts')),
    h('p', { class: 'level-line' }, badge(c.level), ' ', levelText[c.level] ?? c.level,
      c.encryptedOnly ? h('span', { class: 'muted' }, ' · takes encrypted mail only') : null),
    changed,
    c.pinned && !c.candidate ? keyBlock('Key', c.pinned) : null,
    safety,
    h('section', { class: 'history', id: 'key-history' }, h('h2', null, 'History'),
      c.history.length === 0 ? h('p', { class: 'muted' }, 'Nothing recorded yet.') :
        h('ol', null, c.history.map(t => h('li', null,
          h('time', null, new Date(t.at).toLocaleString()), ' ', badge(t.from), ' → ', badge(t.to), ' ', t.explanation,
          t.newKey ? h('div', { class: 'mono muted' }, t.newKey) : null))))));
}

function latestChange(c) {
  const change = [...c.history].reverse().find(t => t.reason === 'KeyChanged' || t.reason === 'ChangedAgain' || t.reason === 'TransparencyBackedChange');
  return change ? `${change.explanation} (${new Date(change.at).toLocaleString()})` : `seen from ${c.candidate.origin} on ${formatDate(c.candidate.since)}`;
}

/** A camera scan where the browser can decode QR codes itself (BarcodeDetector); elsewhere, pasting the text works. */
function cameraScan(input) {
  if (!('BarcodeDetector' in window) || !navigator.mediaDevices?.getUserMedia) return null;
  const video = h('video', { class: 'scanner', playsinline: true, muted: true, hidden: true });
  return h('div', null, h('button', { class: 'link', type: 'button', onclick: async () => {
    const stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment' } });
    video.srcObject = stream;
    video.hidden = false;
    await video.play();
    const detector = new window.BarcodeDetector({ formats: ['qr_code'] });
    const tick = async () => {
      const codes = await detector.detect(video);
      if (codes.length) {
        input.value = codes[0].rawValue;
        stream.getTracks().forEach(t => t.stop());
        video.hidden = true;
      } else if (!video.hidden) requestAnimationFrame(tick);
    };
    tick();
  } }, 'Scan with the camera'), video);
}
