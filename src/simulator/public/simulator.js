// Deni phone simulator: plain DOM, no framework. It talks to the real USSD webhook in the
// Africa's Talking format (form-urlencoded; `text` = every input so far joined by `*`; the reply
// is text/plain `CON …` to continue or `END …` to finish), and to the simulator's own routes.
const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
// A webhook secret (USSD_WEBHOOK_SECRET), if the service checks one: /simulator?secret=…
const webhookSecret = params.get('secret');

// The admin key (ADMIN_API_KEY) for the control routes (SMS, M-PESA outcomes, pending top-ups):
// typed under "Admin key", or given once as /simulator?key=…. It is kept in sessionStorage (this
// tab only, gone when it closes) and taken out of the address bar at once.
const KEY_STORAGE = 'deni-simulator-admin-key';
function readStoredKey() {
  try {
    return sessionStorage.getItem(KEY_STORAGE) ?? '';
  } catch {
    return '';
  }
}
function storeKey(key) {
  try {
    if (key) sessionStorage.setItem(KEY_STORAGE, key);
    else sessionStorage.removeItem(KEY_STORAGE);
  } catch {
    // Storage refused (private mode): the key lasts until the page is left.
  }
}
if (params.has('key')) {
  storeKey(params.get('key').trim());
  params.delete('key');
  const rest = params.toString();
  history.replaceState(null, '', `${location.pathname}${rest ? `?${rest}` : ''}${location.hash}`);
}

const state = {
  sessionId: '',
  text: '',
  active: false,
  busy: false,
  smsTimer: 0,
  mpesaSimulated: true,
  adminKey: readStoredKey(),
  /** From /simulator/api/config: whether the service has an ADMIN_API_KEY (null until known). */
  adminKeyRequired: null,
  /** 'accepted' or 'refused' once a control route has answered with the current key. */
  keyVerdict: '',
};

/** Says what the admin key field holds and whether the service took it. */
function showKeyStatus() {
  const status = $('key-status');
  let text;
  let error = false;
  if (state.keyVerdict === 'refused') {
    error = true;
    text = state.adminKey
      ? 'The service refused this key (401). Enter its ADMIN_API_KEY and choose Use key.'
      : "The SMS and M-PESA panels need the admin key (401): enter the service's ADMIN_API_KEY and choose Use key, or open /simulator?key=….";
  } else if (state.adminKeyRequired === false) {
    text = 'Not needed here: this service has no ADMIN_API_KEY set (development), so the panels work without one.';
  } else if (!state.adminKey) {
    error = state.adminKeyRequired === true;
    text = state.adminKeyRequired
      ? 'This service has an admin key: enter its ADMIN_API_KEY to see SMS and control M-PESA (kept for this tab only).'
      : 'The SMS and M-PESA panels send it as X-API-Key; it is kept for this tab only.';
  } else {
    text =
      state.keyVerdict === 'accepted'
        ? 'Key accepted: sent as X-API-Key, kept for this tab only.'
        : 'Key set: sent as X-API-Key, kept for this tab only.';
  }
  status.textContent = text;
  status.classList.toggle('error', error);
  $('admin-key').setAttribute('aria-invalid', String(state.keyVerdict === 'refused'));
}

function setKeyVerdict(verdict) {
  if (state.keyVerdict === verdict) return;
  state.keyVerdict = verdict;
  showKeyStatus();
}

/**
 * A call to one of the simulator's control routes, with the admin key when there is one. Resolves
 * to { ok, status, body }; a 401 becomes an error that says what to do about the key.
 */
async function control(path, init = {}) {
  const headers = { ...(init.headers ?? {}) };
  if (state.adminKey) headers['x-api-key'] = state.adminKey;
  const res = await fetch(path, { ...init, headers });
  const body = await res.json().catch(() => ({}));
  if (res.status === 401) {
    setKeyVerdict('refused');
    throw new Error(
      state.adminKey
        ? 'the admin key was refused (401): check it under Admin key'
        : 'it needs the admin key (401): enter it under Admin key',
    );
  }
  if (res.ok && state.adminKey) setKeyVerdict('accepted');
  return { ok: res.ok, status: res.status, body };
}

function newSessionId() {
  const random = globalThis.crypto?.randomUUID?.() ?? `${Date.now()}-${Math.random().toString(16).slice(2)}`;
  return `SIM_${random}`;
}

/** +2547… for the gateway, as Africa's Talking sends it. */
function gatewayNumber(input) {
  const compact = input.replace(/[\s\-().]/g, '');
  if (/^0[17]\d{8}$/.test(compact)) return `+254${compact.slice(1)}`;
  if (/^254[17]\d{8}$/.test(compact)) return `+${compact}`;
  return compact;
}

function phone() {
  return $('phone-number').value.trim();
}

function setScreen(message, ended) {
  $('screen').textContent = message;
  $('session-state').textContent = ended
    ? 'Session ended'
    : state.active
      ? 'Session active: type a reply'
      : 'No session';
  $('session-state').classList.toggle('ended', Boolean(ended));
}

function log(kind, text) {
  const item = document.createElement('li');
  const pre = document.createElement('pre');
  pre.textContent = `${kind}: ${text}`;
  item.append(pre);
  $('log').append(item);
}

function setActive(active) {
  state.active = active;
  $('reply').disabled = !active;
  $('send').disabled = !active;
  $('hang-up').disabled = !active;
  for (const key of $('keypad').querySelectorAll('button')) key.disabled = !active;
  if (active) $('reply').focus();
}

async function send() {
  state.busy = true;
  try {
    const headers = { 'content-type': 'application/x-www-form-urlencoded' };
    if (webhookSecret) headers['x-ussd-secret'] = webhookSecret;
    const res = await fetch('/api/ussd/handler', {
      method: 'POST',
      headers,
      body: new URLSearchParams({
        sessionId: state.sessionId,
        serviceCode: $('service-code').textContent,
        phoneNumber: gatewayNumber(phone()),
        networkCode: '63902',
        text: state.text,
      }),
    });
    const body = await res.text();
    if (!res.ok) throw new Error(`The webhook answered ${res.status}: ${body}`);
    const ended = body.startsWith('END');
    const message = body.replace(/^(CON|END) ?/, '');
    log(ended ? 'END' : 'CON', message);
    setActive(!ended);
    setScreen(message, ended);
    if (ended) {
      void refreshSms();
      void refreshPending();
    }
  } catch (e) {
    setActive(false);
    setScreen(String(e.message ?? e), true);
    $('screen').classList.add('error');
  } finally {
    state.busy = false;
  }
}

async function dial(event) {
  event.preventDefault();
  if (state.busy || !$('dial-form').reportValidity()) return;
  rememberNumber(phone());
  $('screen').classList.remove('error');
  $('log').replaceChildren();
  state.sessionId = newSessionId();
  state.text = '';
  log('Dial', `${$('service-code').textContent} from ${phone()}`);
  await send();
  void refreshSms();
}

async function reply(event) {
  event.preventDefault();
  if (!state.active || state.busy) return;
  const input = $('reply').value.trim();
  $('reply').value = '';
  log('You', input || '(empty)');
  state.text = state.text === '' ? input : `${state.text}*${input}`;
  await send();
}

function hangUp() {
  setActive(false);
  setScreen('Call ended.', true);
  log('Hang up', '');
}

function rememberNumber(number) {
  const list = $('recent-numbers');
  if ([...list.options].some((o) => o.value === number)) return;
  const option = document.createElement('option');
  option.value = number;
  list.append(option);
}

async function refreshSms() {
  const number = phone();
  $('sms-number').textContent = number || 'this number';
  if (!number) return;
  try {
    const res = await control(`/simulator/api/sms?${new URLSearchParams({ phoneNumber: number, limit: '20' })}`);
    if (number !== phone()) return; // the number changed while this was loading
    const body = res.body;
    if (!res.ok) throw new Error(body.message ?? `status ${res.status}`);
    const items = body.map((sms) => {
      const item = document.createElement('li');
      item.textContent = sms.body;
      const meta = document.createElement('span');
      meta.className = 'meta';
      meta.textContent = `${new Date(sms.createdAt).toLocaleTimeString()} · ${sms.template} · ${sms.status}`;
      item.append(meta);
      return item;
    });
    $('sms').replaceChildren(...items);
    $('sms-empty').textContent = items.length ? '' : 'No SMS yet.';
    $('sms-empty').classList.remove('error');
  } catch (e) {
    $('sms-empty').textContent = `Could not load the SMS: ${e.message ?? e}`;
    $('sms-empty').classList.add('error');
  }
}

async function setOutcome(event) {
  event.preventDefault();
  const outcome = $('outcome').value;
  const status = $('mpesa-status');
  try {
    const res = await control('/simulator/api/mpesa/outcome', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ phoneNumber: phone(), outcome }),
    });
    if (!res.ok) throw new Error(res.body.message ?? `status ${res.status}`);
    status.textContent = `Next M-PESA request of ${phone()}: ${outcome}`;
    status.classList.remove('error');
  } catch (e) {
    status.textContent = `Could not set the outcome: ${e.message ?? e}`;
    status.classList.add('error');
  }
}

/** Top-ups of this number the Daraja simulator has not answered yet (e.g. held by `hold`). */
async function refreshPending() {
  const number = phone();
  if (!number || !state.mpesaSimulated) return;
  try {
    const res = await control(`/simulator/api/mpesa/pending?${new URLSearchParams({ phoneNumber: number })}`);
    if (number !== phone()) return;
    const body = res.body;
    if (!res.ok) throw new Error(body.message ?? `status ${res.status}`);
    const items = body.map((push) => {
      const item = document.createElement('li');
      const text = document.createElement('span');
      text.textContent = `Ksh ${push.amount} top-up, ${push.held ? 'held' : 'answering…'}`;
      const meta = document.createElement('span');
      meta.className = 'meta';
      meta.textContent = `${new Date(push.requestedAt).toLocaleTimeString()} · ${push.checkoutRequestId}`;
      text.append(meta);
      const button = document.createElement('button');
      button.type = 'button';
      button.textContent = 'Deliver';
      button.setAttribute(
        'aria-label',
        `Deliver the result to the Ksh ${push.amount} top-up ${push.checkoutRequestId}`,
      );
      button.addEventListener('click', () => void deliver(push, button));
      item.append(text, button);
      return item;
    });
    $('pending').replaceChildren(...items);
    $('pending-empty').textContent = items.length ? '' : 'No pending top-ups.';
    $('pending-empty').classList.remove('error');
  } catch (e) {
    $('pending-empty').textContent = `Could not load the pending top-ups: ${e.message ?? e}`;
    $('pending-empty').classList.add('error');
  }
}

async function deliver(push, button) {
  const outcome = $('deliver-outcome').value;
  const status = $('pending-status');
  button.disabled = true;
  try {
    const res = await control(`/simulator/api/mpesa/pending/${encodeURIComponent(push.checkoutRequestId)}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ outcome }),
    });
    if (!res.ok) throw new Error(res.body.message ?? `status ${res.status}`);
    status.textContent = `Delivered ${outcome.replaceAll('_', ' ')} to the Ksh ${push.amount} top-up`;
    status.classList.remove('error');
  } catch (e) {
    status.textContent = `Could not deliver the outcome: ${e.message ?? e}`;
    status.classList.add('error');
    button.disabled = false;
  }
  await refreshPending();
  // The callback is processed asynchronously: the SMS follows in a moment.
  setTimeout(() => void refreshSms(), 500);
}

function outcomeOptions(outcomes) {
  return outcomes.map((o) => {
    const option = document.createElement('option');
    option.value = o;
    option.textContent = o === 'hold' ? 'hold (deliver it below)' : o.replaceAll('_', ' ');
    return option;
  });
}

async function loadConfig() {
  try {
    const res = await fetch('/simulator/api/config');
    if (!res.ok) return;
    const config = await res.json();
    $('service-code').textContent = config.serviceCode;
    $('dial').textContent = `Dial ${config.serviceCode}`;
    $('outcome').replaceChildren(...outcomeOptions(config.outcomes));
    $('deliver-outcome').replaceChildren(...outcomeOptions(config.deliverable ?? []));
    state.mpesaSimulated = config.mpesaSimulated;
    if (typeof config.adminKeyRequired === 'boolean') {
      state.adminKeyRequired = config.adminKeyRequired;
      showKeyStatus();
    }
    if (!config.mpesaSimulated) {
      $('set-outcome').disabled = true;
      $('refresh-pending').disabled = true;
      $('deliver-outcome').disabled = true;
      $('mpesa-status').textContent = 'M-PESA is not simulated here (MPESA_BASE_URL is set).';
      $('pending-empty').textContent = '';
    } else {
      void refreshPending();
    }
  } catch {
    // The defaults in the page stand.
  }
}

function useKey(event) {
  event.preventDefault();
  state.adminKey = $('admin-key').value.trim();
  storeKey(state.adminKey);
  state.keyVerdict = '';
  showKeyStatus();
  void refreshSms();
  void refreshPending();
}

function forgetKey() {
  state.adminKey = '';
  $('admin-key').value = '';
  storeKey('');
  state.keyVerdict = '';
  showKeyStatus();
}

$('admin-key').value = state.adminKey;
showKeyStatus();
$('key-form').addEventListener('submit', useKey);
$('forget-key').addEventListener('click', forgetKey);
$('dial-form').addEventListener('submit', dial);
$('reply-form').addEventListener('submit', reply);
$('hang-up').addEventListener('click', hangUp);
$('mpesa-form').addEventListener('submit', setOutcome);
$('refresh-sms').addEventListener('click', () => void refreshSms());
$('refresh-pending').addEventListener('click', () => void refreshPending());
$('phone-number').addEventListener('change', () => {
  if (state.active) hangUp();
  void refreshSms();
  void refreshPending();
});
$('keypad').addEventListener('click', (event) => {
  const key = event.target.closest('button');
  if (!key || key.disabled) return;
  const input = $('reply');
  input.value = key.dataset.key === 'del' ? input.value.slice(0, -1) : input.value + key.textContent;
  input.focus();
});
setActive(false);
void loadConfig();
void refreshSms();
// New SMS arrive on their own (a callback, a repayment), and top-ups start from the phone: look
// every few seconds while visible.
state.smsTimer = setInterval(() => {
  if (document.visibilityState !== 'visible') return;
  void refreshSms();
  void refreshPending();
}, 3000);
