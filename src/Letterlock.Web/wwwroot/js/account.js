// The account: address and key (with its QR code), the encryption policy, the bridge's settings for mail apps, devices
// (approve a new one, revoke), the password and the recovery kit.
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
      h('div', { class: 'muted', id: 'devices-state' }, 'Asking the provider…'),
      h('form', { id: 'approve-form', class: 'field' },
        h('label', null, h('span', null, 'Approve a new device: its code '),
          h('input', { id: 'link-code', autocomplete: 'off', spellcheck: 'false', placeholder: '7KQ2M-X4D9TP' })),
        ' ', h('button', { type: 'submit', id: 'approve-device' }, 'Approve')),
      h('p', { class: 'muted' }, 'On the new device run ', h('code', null, 'letterlock devices link'),
        ': it shows a code (and a QR code holding it) to type here. Both screens then show six digits to compare.'),
      h('div', { id: 'approval' })),
    h('section', { id: 'access' }, h('h2', null, 'Password and recovery'),
      h('p', { class: 'muted', id: 'access-state' }, ''),
      h('form', { id: 'password-form', class: 'field' },
        h('label', null, h('span', null, 'New password '), h('input', { type: 'password', id: 'new-password', autocomplete: 'new-password' })),
        ' ', h('button', { type: 'submit', id: 'set-password' }, 'Set password')),
      h('p', { class: 'muted' }, 'The password lets a new device join the account (it never leaves this device). ',
        'The recovery kit brings the account back when every device is lost; making a new one voids the old.'),
      h('p', null, h('button', { id: 'make-recovery-kit' }, 'Make a new recovery kit')),
      h('p', { class: 'mono', id: 'recovery-code' })),
    h('section', null, h('h2', null, 'Details'),
      h('dl', { class: 'settings' },
        row('Provider', info.provider ?? '–'),
        row('Added to this client', new Date(info.created).toLocaleString())))));
  document.getElementById('password-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const input = document.getElementById('new-password');
    try {
      await api.post(`${base()}/password`, { password: input.value });
      input.value = '';
      toast('Password set: new devices can join with it.', 'good');
      await showDevices(info);
    } catch (e) { toast(e.detail || e.message, 'bad'); }
  });
  document.getElementById('approve-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const input = document.getElementById('link-code');
    const holder = document.getElementById('approval');
    replace(holder, h('p', { class: 'muted' }, 'Meeting the new device through the provider…'));
    let pending;
    try {
      pending = await api.post(`${base()}/devices/approve`, { code: input.value });
    } catch (e) {
      replace(holder);
      toast(e.detail || e.message, 'bad');
      return;
    }
    input.value = '';
    const answer = async (same) => {
      replace(holder, h('p', { class: 'muted' }, same ? 'Sending the account’s keys to the new device…' : 'Ending the link…'));
      try {
        const device = await api.post(`${base()}/devices/approve/${pending.approval}`, { same });
        replace(holder);
        toast(`“${device.name}” is now a device of this account.`, 'good');
        await showDevices(info);
      } catch (e) {
        replace(holder);
        toast(e.detail || e.message, same ? 'bad' : 'good');
      }
    };
    replace(holder, h('div', { class: 'sas', id: 'sas' },
      h('p', null, 'The new device must show: ', h('strong', { class: 'mono', id: 'sas-digits' }, pending.sas)),
      h('button', { id: 'sas-same', onclick: () => answer(true) }, 'It shows the same'),
      ' ', h('button', { id: 'sas-different', onclick: () => answer(false) }, 'It does not')));
  });
  document.getElementById('make-recovery-kit').addEventListener('click', async () => {
    if (!confirm('Make a new recovery kit? The previous one stops working.')) return;
    try {
      const kit = await api.post(`${base()}/recovery-kit`);
      document.getElementById('recovery-code').textContent = kit.code;
      toast('Write this code down and keep it safe: it is shown once.', 'good');
    } catch (e) { toast(e.detail || e.message, 'bad'); }
  });
  await showDevices(info);
}

// The account's devices at its provider, each other active one with a revoke button.
async function showDevices(info) {
  const holder = document.getElementById('devices-state');
  const access = document.getElementById('access-state');
  let list;
  try {
    list = await api.get(`${base()}/devices`);
  } catch (e) {
    holder.textContent = e.detail || e.message;
    return;
  }
  access.textContent = `Password: ${list.hasPassword ? 'set' : 'not set'}. Recovery kit: ${list.hasRecovery ? 'made' : 'not made'}.`;
  const rows = list.devices.map(d => h('tr', { 'data-device-id': d.id, 'data-revoked': d.revoked ? 'true' : 'false' },
    h('td', null, d.name, d.thisDevice ? ' (this device)' : ''),
    h('td', { class: 'mono small' }, d.id),
    h('td', null, new Date(d.created).toLocaleString()),
    h('td', null, d.lastSeen ? new Date(d.lastSeen).toLocaleString() : '–'),
    h('td', null, d.revoked ? `revoked ${new Date(d.revoked).toLocaleString()}`
      : d.thisDevice ? 'active'
      : h('button', { class: 'revoke', onclick: async () => {
          if (!confirm(`Revoke “${d.name}”? It can no longer fetch or read new mail; new keys are published.`)) return;
          try {
            await api.post(`${base()}/devices/${d.id}/revoke`);
            toast(`Revoked “${d.name}”; new receiving keys published.`, 'good');
            await showDevices(info);
          } catch (e) { toast(e.detail || e.message, 'bad'); }
        } }, 'Revoke'))));
  replace(holder, h('table', { id: 'device-list' },
    h('thead', null, h('tr', null, h('th', null, 'Name'), h('th', null, 'Id'), h('th', null, 'Joined'), h('th', null, 'Last seen'), h('th', null, 'State'))),
    h('tbody', null, ...rows)));
  holder.classList.remove('muted');
}
