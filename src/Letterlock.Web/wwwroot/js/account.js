// The account: address and key (with its QR code), the encryption policy, the bridge's settings for mail apps, devices.
import { h, replace, qr, toast } from './dom.js';
import * as api from './api.js';
import { state } from './app.js';

const main = () => document.getElementById('main');
const base = () => `/api/accounts/${state.account.id}`;

export async function showAccount() {
  const info = await api.get(`${base()}/info`);
  const password = h('span', { class: 'mono', id: 'bridge-password' }, '••••••••');
  const policy = h('select', { id: 'policy' },
    h('option', { value: 'Opportunistic', selected: info.policy === 'Opportunistic' }, 'Encrypt when every recipient has a key, else send as is'),
    h('option', { value: 'EncryptedOnly', selected: info.policy === 'EncryptedOnly' }, 'Send only end-to-end encrypted mail'));
  policy.addEventListener('change', async () => {
    await api.post(`${base()}/policy`, { policy: policy.value });
    toast('Encryption policy saved.', 'good');
  });
  const row = (label, ...value) => [h('dt', null, label), h('dd', null, ...value)];
  replace(main(), h('section', { class: 'account', id: 'account' },
    h('div', { class: 'view-head' }, h('h1', null, info.displayName ? `${info.displayName} <${info.address}>` : info.address)),
    h('div', { class: 'account-grid' },
      h('section', null, h('h2', null, 'Your key'),
        h('div', { class: 'mono fingerprint', id: 'own-fingerprint' }, info.fingerprint),
        h('figure', null, qr(info.qr.modules), h('figcaption', { class: 'muted' }, 'Others verify you by scanning this code or comparing the fingerprint.'))),
      h('section', null, h('h2', null, 'Sending'),
        h('label', { class: 'field' }, h('span', null, 'Policy'), policy),
        h('p', { class: 'muted' }, 'Each message can also be set to “send only if encrypted” when you write it.'))),
    h('section', null, h('h2', null, 'Mail apps'),
      h('p', null, 'Thunderbird, mutt or any other mail app reads and sends through the bridge with these settings:'),
      h('dl', { class: 'settings' },
        row('IMAP', `${info.bridge.imapHost}:${info.bridge.imapPort} (${info.bridge.security})`),
        row('SMTP', `${info.bridge.smtpHost}:${info.bridge.smtpPort} (${info.bridge.security})`),
        row('User name', info.bridge.userName),
        row('Password', password, ' ', h('button', { class: 'link', id: 'reveal-password', onclick: async () => {
          password.textContent = (await api.post(`${base()}/bridge-password`)).password;
        } }, 'show')),
        row('Certificate', h('span', { class: 'mono small' }, info.bridge.certificateSha256)))),
    h('section', { id: 'devices' }, h('h2', null, 'Devices'),
      h('p', null, `This device: ${info.deviceId ?? 'not registered with a provider'}.`),
      h('p', { class: 'muted' }, 'Listing, linking and revoking devices, changing the password and the recovery kit appear here as the client gains them; ',
        'meanwhile the command line has ', h('code', null, 'letterlock account'), '.')),
    h('section', null, h('h2', null, 'Details'),
      h('dl', { class: 'settings' },
        row('Provider', info.provider ?? '–'),
        row('Added to this client', new Date(info.created).toLocaleString())))));
}
