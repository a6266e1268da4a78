// Writing: the form, attachments, the per-recipient preview (end to end or not, and with which protocol), drafts, sending.
import { h, replace, formatSize, toast, icon } from './dom.js';
import * as api from './api.js';
import { state, refreshFolders } from './app.js';

const main = () => document.getElementById('main');
const base = () => `/api/accounts/${state.account.id}`;

const split = text => text.split(/[,;\n]/).map(s => s.trim()).filter(Boolean);

export async function showCompose(params) {
  const mode = params.get('mode') ?? 'new';
  const message = params.get('m');
  const draft = await api.get(`${base()}/compose?mode=${mode}${message ? `&message=${message}` : ''}`);
  let attachments = [...draft.attachments];
  let draftId = draft.draftId ?? null;

  const field = (id, label, value) => h('label', { class: 'field' }, h('span', null, label),
    h('input', { id, type: 'text', value: value.join(', '), autocomplete: 'off', spellcheck: 'false' }));
  const to = field('compose-to', 'To', draft.to);
  const cc = field('compose-cc', 'Cc', draft.cc);
  const bcc = field('compose-bcc', 'Bcc', draft.bcc);
  const subject = h('input', { id: 'compose-subject', type: 'text', value: draft.subject });
  const text = h('textarea', { id: 'compose-text', rows: '16', value: draft.text });
  const onlyEncrypted = h('input', { id: 'compose-only-encrypted', type: 'checkbox', checked: draft.onlyEncrypted });
  const plan = h('section', { class: 'plan', id: 'recipient-plan', 'aria-live': 'polite' }, h('p', { class: 'muted' }, 'Add recipients to see how the message will go.'));
  const attachmentList = h('ul', { class: 'attachments', id: 'compose-attachments' });
  const file = h('input', { type: 'file', id: 'compose-file', multiple: true });
  const sendButton = h('button', { class: 'button primary', id: 'send', type: 'submit' }, 'Send');

  const form = () => ({
    draftId,
    to: split(to.querySelector('input').value),
    cc: split(cc.querySelector('input').value),
    bcc: split(bcc.querySelector('input').value),
    subject: subject.value,
    text: text.value,
    inReplyTo: draft.inReplyTo,
    references: draft.references,
    attachments,
    onlyEncrypted: onlyEncrypted.checked,
  });

  function renderAttachments() {
    replace(attachmentList, attachments.map(a => h('li', null, icon('clip'), ` ${a.name} `, h('span', { class: 'muted' }, formatSize(a.size)), ' ',
      h('button', { class: 'link', type: 'button', onclick: async () => {
        await api.del(`${base()}/uploads/${a.id}`);
        attachments = attachments.filter(x => x.id !== a.id);
        renderAttachments();
      } }, 'remove'))));
  }

  let planTimer;
  let planSeq = 0;
  async function refreshPlan() {
    const f = form();
    const recipients = [...f.to, ...f.cc, ...f.bcc];
    if (recipients.length === 0) {
      replace(plan, h('p', { class: 'muted' }, 'Add recipients to see how the message will go.'));
      return;
    }
    const seq = ++planSeq;
    replace(plan, h('p', { class: 'muted' }, 'Checking each recipient’s key…'));
    try {
      const result = await api.post(`${base()}/plan`, { recipients, onlyEncrypted: f.onlyEncrypted });
      if (seq !== planSeq) return;
      replace(plan,
        h('p', { class: `plan-summary ${result.outcome === 'queued' ? (result.encrypted ? 'good' : 'neutral') : 'bad'}`, dataset: { outcome: result.outcome, encrypted: String(result.encrypted) } },
          result.summary),
        h('ul', null, result.recipients.map(r => h('li', { class: r.route, dataset: { address: r.address, route: r.route, protocol: r.protocol } },
          icon(r.route === 'end-to-end' ? 'lock' : r.route === 'key-changed' || r.route === 'key-unpublished' ? 'warn' : 'mail'), ' ',
          h('strong', null, r.address), ': ', r.text, r.fingerprint ? h('span', { class: 'muted' }, ` (${r.fingerprint})`) : null))));
      sendButton.disabled = result.outcome !== 'queued';
    } catch (e) {
      if (seq === planSeq) replace(plan, h('p', { class: 'bad' }, e.message));
    }
  }
  const schedulePlan = () => { clearTimeout(planTimer); planTimer = setTimeout(refreshPlan, 400); };

  file.addEventListener('change', async () => {
    for (const f of file.files) {
      try {
        const uploaded = await api.call('POST', `${base()}/uploads`, undefined, { body: f, type: f.type || 'application/octet-stream', headers: { 'X-File-Name': encodeURIComponent(f.name) } });
        attachments.push(uploaded);
      } catch (e) {
        toast(`${f.name}: ${e.message}`, 'bad');
      }
    }
    file.value = '';
    renderAttachments();
  });

  const submit = async event => {
    event.preventDefault();
    sendButton.disabled = true;
    try {
      const result = await api.post(`${base()}/send`, form());
      toast(result.detail, result.encrypted ? 'good' : 'neutral');
      await refreshFolders();
      location.hash = `#/a/${state.account.id}`;
    } catch (e) {
      toast(e.message, 'bad');
      await refreshPlan();
      sendButton.disabled = false;
    }
  };

  const saveDraft = async () => {
    const saved = await api.post(`${base()}/drafts`, form());
    draftId = saved.draftId;
    toast('Draft saved (encrypted on this device, synced to your others).');
    await refreshFolders();
  };

  replace(main(), h('form', { class: 'compose', id: 'compose-form', onsubmit: submit },
    h('div', { class: 'view-head' }, h('h1', null, mode === 'reply' || mode === 'all' ? 'Reply' : mode === 'forward' ? 'Forward' : 'New message'),
      h('span', { class: 'muted' }, `from ${state.account.address}`)),
    to, cc, bcc,
    h('label', { class: 'field' }, h('span', null, 'Subject'), subject),
    plan,
    h('label', { class: 'check' }, onlyEncrypted, ' Send only if it can go end-to-end encrypted to everyone'),
    text,
    h('div', { class: 'attach' }, h('label', { class: 'button' }, 'Attach files', file), attachmentList),
    h('div', { class: 'actions' }, sendButton,
      h('button', { class: 'button', type: 'button', id: 'save-draft', onclick: saveDraft }, 'Save draft'),
      h('a', { class: 'button', href: `#/a/${state.account.id}` }, 'Discard'))));
  for (const input of [to, cc, bcc].map(f => f.querySelector('input'))) input.addEventListener('input', schedulePlan);
  onlyEncrypted.addEventListener('change', refreshPlan);
  renderAttachments();
  if (draft.to.length || draft.cc.length || draft.bcc.length) await refreshPlan();
  (draft.to.length ? text : to.querySelector('input')).focus();
}
