// audiomill's page: sign in, files or the microphone in, a job per file, live progress,
// results with players; music projects. Plain ES modules, no build step, no other host.

import { h, clear, errorSlot, showError } from './dom.js';
import { get, post, uploadAsset, ApiError } from './api.js';
import { paramsForm } from './forms.js';
import { recorder } from './record.js';
import { startJobs, track } from './jobs.js';
import { startProjects, loadRepos } from './projects.js';

// Kinds whose inputs the page fills from other screens (a commit's or a job's stems).
const NOT_IN_FORM = new Set(['mixdown']);

const state = { kinds: [], kind: null, form: null, files: [], user: null };

function show(id, visible) {
  document.getElementById(id).hidden = !visible;
}

async function whoAmI() {
  try {
    return await get('/api/v1/auth/me');
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return null;
    throw error;
  }
}

function renderAccount() {
  const box = clear(document.getElementById('account'));
  const user = state.user;
  if (!user) return;
  if (user.authenticated_by === 'local') {
    box.append(h('span', { class: 'muted', text: 'local mode' }));
    return;
  }
  const out = h('button', { type: 'button', text: 'Sign out' });
  const problem = h('span', { class: 'error', role: 'alert' });
  out.addEventListener('click', async () => {
    try {
      await post('/api/v1/auth/logout');
      location.reload();
    } catch (error) {
      showError(problem, error);
    }
  });
  box.append(h('span', { class: 'user', text: user.username }), ' ', out, problem);
}

// ---- files: drop, choose, record ------------------------------------------------------

function renderFiles() {
  const list = clear(document.getElementById('file-list'));
  state.files.forEach((entry, index) => {
    const remove = h('button', { type: 'button', class: 'link', text: 'remove', 'aria-label': `Remove ${entry.file.name}` });
    remove.addEventListener('click', () => {
      state.files.splice(index, 1);
      renderFiles();
    });
    if (entry.file.type.startsWith('image/') && !entry.preview) entry.preview = URL.createObjectURL(entry.file);
    entry.row = h('li', { class: 'file', dataset: { state: entry.state || 'ready' } },
      entry.preview ? h('img', { class: 'thumb', src: entry.preview, alt: '' }) : null,
      h('span', { class: 'file-name', text: entry.file.name }),
      h('span', { class: 'muted', text: ` ${(entry.file.size / 1024).toFixed(0)} KB ` }),
      entry.progress = h('progress', { max: '1', value: String(entry.sent || 0), 'aria-label': `Upload of ${entry.file.name}` }),
      remove,
      entry.error = h('span', { class: 'error', role: 'alert', text: entry.message || '' }));
    list.append(entry.row);
  });
}

function addFiles(files) {
  for (const file of files) state.files.push({ file });
  renderFiles();
}

function startFiles() {
  const zone = document.getElementById('dropzone');
  const input = document.getElementById('file-input');
  input.addEventListener('change', () => {
    addFiles(input.files);
    input.value = '';
  });
  document.getElementById('choose').addEventListener('click', () => input.click());
  zone.addEventListener('dragover', (event) => {
    event.preventDefault();
    zone.classList.add('over');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (event) => {
    event.preventDefault();
    zone.classList.remove('over');
    addFiles(event.dataTransfer.files);
  });
  const button = document.getElementById('record');
  const slot = errorSlot('record');
  const mic = recorder((file) => addFiles([file]), (error) => showError(slot, error));
  button.addEventListener('click', async () => {
    showError(slot, null);
    if (mic.recording) {
      mic.stop();
      button.textContent = '● Record';
      button.setAttribute('aria-pressed', 'false');
      return;
    }
    try {
      await mic.start();
      button.textContent = '■ Stop recording';
      button.setAttribute('aria-pressed', 'true');
    } catch (error) {
      showError(slot, new Error(`the microphone is not available: ${error.message}`));
    }
  });
}

// ---- the job form ---------------------------------------------------------------------

function audioInputs(kind) {
  return kind.inputs.filter((i) => i.name !== '*');
}

function selectKind(name) {
  const kind = state.kinds.find((k) => k.name === name);
  state.kind = kind;
  document.getElementById('kind-summary').textContent = kind.summary;
  const inputs = audioInputs(kind);
  // One input: each dropped file becomes its own job. Several: one chooser per input.
  show('files-area', inputs.length === 1);
  const record = document.getElementById('record');
  record.textContent = kind.name === 'hum_to_beat' ? '● Hum into the microphone' : '● Record';
  // Image kinds (photo → music video) take pictures: no microphone, the chooser offers images.
  const media = inputs.length === 1 ? inputs[0].media : 'audio';
  record.hidden = media !== 'audio';
  document.getElementById('file-input').accept = media === 'image' ? 'image/*' : 'audio/*,video/*';
  document.getElementById('drop-hint').textContent = `Drop ${media === 'image' ? 'photos' : 'audio files'} here, or`;
  document.getElementById('dropzone').setAttribute('aria-label', `Add ${media === 'image' ? 'photos' : 'audio files'}: drop them here or choose them`);
  const extra = clear(document.getElementById('extra-inputs'));
  if (inputs.length > 1) {
    for (const input of inputs) {
      extra.append(h('label', {}, `${input.name}${input.required ? ' *' : ''} `,
        h('input', { type: 'file', name: `input-${input.name}`, accept: input.media === 'image' ? 'image/*' : 'audio/*,video/*', dataset: { input: input.name }, 'aria-describedby': `input-help-${input.name}` }),
        h('small', { id: `input-help-${input.name}`, class: 'muted', text: ` ${input.description}` }),
        h('span', { class: 'error', role: 'alert', dataset: { errorFor: `input-${input.name}` } })));
    }
  }
  state.form = paramsForm(kind.params_schema);
  clear(document.getElementById('params')).append(state.form.element);
  document.getElementById('submit').textContent = inputs.length ? 'Upload and start' : 'Start';
  showError(errorSlot('job-form'), null);
}

async function createJob(inputs) {
  const params = state.form.read();
  return post('/api/v1/jobs', { kind: state.kind.name, params, inputs });
}

function reportJobError(error) {
  const rest = state.form.showErrors(error.message);
  if (rest) showError(errorSlot('job-form'), new Error(rest));
}

async function submitOneFilePerJob(inputName) {
  if (!state.files.length) throw new Error('add a file first: drop it above, choose it, or record');
  let failures = 0;
  for (const entry of state.files.slice()) {
    if (entry.state === 'done') continue;
    entry.message = '';
    entry.error.textContent = '';
    try {
      const asset = await uploadAsset(entry.file, (fraction) => { entry.sent = fraction; entry.progress.value = fraction; });
      track(await createJob({ [inputName]: asset.id }));
      entry.state = 'done';
    } catch (error) {
      failures++;
      entry.state = 'failed';
      entry.message = error.message; // the API's words, next to the file that caused them
      entry.error.textContent = error.message;
      entry.row.dataset.state = 'failed';
      if (!(error instanceof ApiError) || ![413, 415].includes(error.status)) reportJobError(error);
    }
  }
  state.files = state.files.filter((entry) => entry.state !== 'done');
  renderFiles();
  return failures;
}

async function submitNamedInputs() {
  const inputs = {};
  for (const field of document.querySelectorAll('#extra-inputs input[type=file]')) {
    const slot = errorSlot(`input-${field.dataset.input}`);
    showError(slot, null);
    if (!field.files.length) continue;
    try {
      inputs[field.dataset.input] = (await uploadAsset(field.files[0])).id;
    } catch (error) {
      showError(slot, error);
      return 1;
    }
  }
  track(await createJob(inputs));
  return 0;
}

async function submit(event) {
  event.preventDefault();
  const button = document.getElementById('submit');
  showError(errorSlot('job-form'), null);
  state.form.showErrors('');
  button.disabled = true;
  try {
    const inputs = audioInputs(state.kind);
    if (inputs.length === 1) await submitOneFilePerJob(inputs[0].name);
    else if (inputs.length > 1) await submitNamedInputs();
    else track(await createJob({}));
  } catch (error) {
    reportJobError(error);
  } finally {
    button.disabled = false;
  }
}

async function startForm() {
  const select = document.getElementById('kind');
  try {
    state.kinds = (await get('/api/v1/kinds')).filter((k) => !NOT_IN_FORM.has(k.name));
  } catch (error) {
    showError(errorSlot('job-form'), error);
    return;
  }
  for (const kind of state.kinds) select.append(h('option', { value: kind.name, text: kind.name.replace(/_/g, ' ') }));
  select.addEventListener('change', () => selectKind(select.value));
  const wanted = new URLSearchParams(location.hash.split('?')[1] || '').get('kind');
  const first = state.kinds.some((k) => k.name === 'separate') ? 'separate' : state.kinds[0].name;
  select.value = state.kinds.some((k) => k.name === wanted) ? wanted : first;
  selectKind(select.value);
  document.getElementById('job-form').addEventListener('submit', submit);
}

// ---- sections -------------------------------------------------------------------------

function route() {
  const projects = location.hash.startsWith('#projects');
  show('work', !projects);
  show('projects', projects);
  document.getElementById('nav-work').setAttribute('aria-current', projects ? 'false' : 'page');
  document.getElementById('nav-projects').setAttribute('aria-current', projects ? 'page' : 'false');
  if (projects) loadRepos();
}

async function signIn(event) {
  event.preventDefault();
  const form = event.target;
  const slot = errorSlot('signin');
  showError(slot, null);
  try {
    await post('/api/v1/auth/login', { username: form.elements.username.value, password: form.elements.password.value });
    form.reset();
    await start();
  } catch (error) {
    showError(slot, error);
  }
}

let started = false;
async function start() {
  show('loading', false);
  try {
    state.user = await whoAmI();
  } catch (error) {
    show('signin', true);
    showError(errorSlot('signin'), error);
    return;
  }
  renderAccount();
  if (!state.user) {
    show('signin', true);
    document.querySelector('#signin input').focus();
    return;
  }
  show('signin', false);
  if (started) return;
  started = true;
  startFiles();
  startProjects();
  window.addEventListener('hashchange', route);
  route();
  await Promise.all([startForm(), startJobs()]);
  document.body.dataset.ready = 'true';
  performance.mark('audiomill-ready'); // time to interactive, read by bench/bench_page.py
}

document.getElementById('signin-form').addEventListener('submit', signIn);
start();
