// The job list: live progress, stage and ETA, cancel and delete, results when done.
// Live updates come from the per-user feed /api/v1/events when the server has it, else from
// each running job's own WebSocket (/api/v1/jobs/{id}/events), else from polling.

import { h, clear, formatSeconds, showError, errorSlot } from './dom.js';
import { get, post, del } from './api.js';
import { jobResults } from './results.js';

const TERMINAL = new Set(['completed', 'failed', 'cancelled']);
const cards = new Map(); // job id -> {job, element, parts, watching}
let list = null;
let feed = 'connecting';
const openOnFinish = new Set();

function title(job) {
  const p = job.params || {};
  if (p.prompt) return p.prompt;
  if (job.kind === 'mixdown' && Array.isArray(p.stems)) return `mix of ${p.stems.join(', ')}`;
  if (job.inputs.length) return job.inputs.map((i) => i.filename).join(' + ');
  return job.kind;
}

function etaSeconds(job) {
  if (job.status !== 'processing') return null;
  if (job.eta_seconds !== null && job.eta_seconds !== undefined && !job._stale_eta) return job.eta_seconds;
  if (!job.started_at || !(job.progress > 0)) return null;
  const elapsed = (Date.now() - Date.parse(job.started_at)) / 1000;
  return (elapsed * (100 - job.progress)) / job.progress;
}

function buildCard(job) {
  const parts = {
    status: h('span', { class: 'status' }),
    progress: h('progress', { max: '100', value: '0', 'aria-label': `Progress of ${job.kind} job` }),
    stage: h('span', { class: 'stage muted' }),
    eta: h('span', { class: 'eta muted' }),
    error: h('p', { class: 'error', role: 'alert' }),
    actionsError: h('span', { class: 'error', role: 'alert' }),
    cancel: h('button', { type: 'button', text: 'Cancel', 'aria-label': `Cancel job ${title(job)}` }),
    remove: h('button', { type: 'button', text: 'Delete', class: 'danger', 'aria-label': `Delete job ${title(job)}` }),
    details: h('details', { class: 'job-results' }),
  };
  parts.details.append(h('summary', { text: 'Results' }));
  parts.cancel.addEventListener('click', async () => {
    parts.actionsError.textContent = '';
    try {
      upsert(await post(`/api/v1/jobs/${job.id}/cancel`));
    } catch (error) {
      showError(parts.actionsError, error);
    }
  });
  parts.remove.addEventListener('click', async () => {
    parts.actionsError.textContent = '';
    try {
      await del(`/api/v1/jobs/${job.id}`);
      removeCard(job.id);
    } catch (error) {
      showError(parts.actionsError, error);
    }
  });
  parts.details.addEventListener('toggle', () => {
    const card = cards.get(job.id);
    if (parts.details.open && card && !card.resultsShown && card.job.status === 'completed') showResults(card);
  });
  const element = h('li', { class: 'job', dataset: { jobId: job.id, kind: job.kind } },
    h('div', { class: 'job-head' },
      h('strong', { class: 'kind', text: job.kind }),
      h('span', { class: 'job-title', text: title(job) }),
      parts.status),
    h('div', { class: 'job-progress' }, parts.progress, parts.stage, parts.eta),
    h('div', { class: 'row' }, parts.cancel, parts.remove, parts.actionsError),
    parts.error,
    parts.details);
  return { job, element, parts, watching: false, resultsShown: false };
}

function showResults(card) {
  const summary = card.parts.details.querySelector('summary');
  clear(card.parts.details).append(summary, jobResults(card.job));
  card.resultsShown = true;
}

function render(card) {
  const { job, parts, element } = card;
  element.dataset.status = job.status;
  parts.status.textContent = job.status;
  parts.status.className = `status status-${job.status}`;
  parts.progress.value = job.progress;
  parts.progress.setAttribute('aria-valuetext', `${Math.round(job.progress)}%`);
  parts.stage.textContent = job.stage || '';
  const eta = etaSeconds(job);
  parts.eta.textContent = eta !== null && isFinite(eta) ? `about ${formatSeconds(eta)} left` : '';
  parts.error.textContent = job.error && job.status !== 'completed' ? job.error : '';
  parts.cancel.hidden = TERMINAL.has(job.status);
  parts.details.hidden = job.status !== 'completed' || job._partial || !(job.outputs.length || Object.keys(job.result || {}).length);
  if (job.status === 'completed' && !job._partial && openOnFinish.has(job.id) && !card.resultsShown) {
    openOnFinish.delete(job.id);
    parts.details.open = true;
    showResults(card);
  }
}

/** Add or update a job from a full job JSON. */
export function upsert(job) {
  let card = cards.get(job.id);
  if (!card) {
    card = buildCard(job);
    cards.set(job.id, card);
    const newer = [...list.children].find((li) => cards.get(li.dataset.jobId)?.job.created_at < job.created_at);
    list.insertBefore(card.element, newer || null);
  }
  card.job = job;
  render(card);
  if (feed === 'per-job' && !TERMINAL.has(job.status)) watchJob(card);
}

function removeCard(id) {
  const card = cards.get(id);
  if (!card) return;
  card.element.querySelectorAll('.mixer').forEach((mixer) => mixer.stop && mixer.stop());
  card.element.remove();
  cards.delete(id);
}

/** A job created on this page: shown at once, its results opened when it completes. */
export function track(job) {
  openOnFinish.add(job.id);
  upsert(job);
}

async function refresh(id) {
  try {
    upsert(await get(`/api/v1/jobs/${id}`));
  } catch (error) {
    if (error.status === 404) removeCard(id);
  }
}

function wsUrl(path) {
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${path}`;
}

/** Fallback when the per-user feed is absent: the job's own WebSocket, else polling. */
function watchJob(card) {
  if (card.watching) return;
  card.watching = true;
  const id = card.job.id;
  let socket;
  try {
    socket = new WebSocket(wsUrl(`/api/v1/jobs/${id}/events`));
  } catch {
    poll(card);
    return;
  }
  let opened = false;
  socket.onopen = () => { opened = true; };
  socket.onmessage = (message) => {
    const event = JSON.parse(message.data);
    const current = cards.get(id);
    if (!current) return;
    current.job = { ...current.job, status: event.status, progress: event.progress, stage: event.stage, error: event.error, _stale_eta: true, _partial: true };
    if (!current.job.started_at && event.status === 'processing') current.job.started_at = new Date().toISOString();
    render(current);
    if (TERMINAL.has(event.status)) refresh(id); // outputs, result, times
  };
  socket.onclose = () => {
    const current = cards.get(id);
    if (!current) return;
    current.watching = false;
    if (!opened) poll(current);
    else if (!TERMINAL.has(current.job.status)) refresh(id);
  };
}

function poll(card) {
  card.watching = true;
  const timer = setInterval(async () => {
    const current = cards.get(card.job.id);
    if (!current || TERMINAL.has(current.job.status)) {
      clearInterval(timer);
      return;
    }
    await refresh(card.job.id);
  }, 1000);
}

function setFeed(state) {
  feed = state;
  const label = document.getElementById('feed-state');
  label.textContent = state === 'live' ? '· live' : '· updating each job';
  label.dataset.feed = state;
}

/** The per-user feed: {"type": "job.<event>", "job": {...}}. */
function connectFeed() {
  let socket;
  try {
    socket = new WebSocket(wsUrl('/api/v1/events'));
  } catch {
    setFeed('per-job');
    return;
  }
  let opened = false;
  socket.onopen = () => {
    opened = true;
    setFeed('live');
  };
  socket.onmessage = (message) => {
    const event = JSON.parse(message.data);
    if (!event || !event.job || typeof event.type !== 'string') return;
    if (event.type === 'job.deleted') removeCard(event.job.id);
    else upsert(event.job);
  };
  socket.onclose = () => {
    if (!opened) {
      setFeed('per-job');
      for (const card of cards.values()) if (!TERMINAL.has(card.job.status)) watchJob(card);
      return;
    }
    setFeed('per-job');
    for (const card of cards.values()) if (!TERMINAL.has(card.job.status)) watchJob(card);
    setTimeout(() => { loadJobs(); connectFeed(); }, 3000); // reconnect, then catch up
  };
}

export async function loadJobs() {
  try {
    const page = await get('/api/v1/jobs?limit=50');
    for (const job of page.data.slice().reverse()) upsert(job);
    showError(errorSlot('jobs'), null);
  } catch (error) {
    showError(errorSlot('jobs'), error);
  }
}

export function completedJobs() {
  return [...cards.values()].map((c) => c.job).filter((j) => j.status === 'completed');
}

export async function startJobs() {
  list = document.getElementById('jobs');
  document.addEventListener('job-created', (event) => track(event.detail));
  setInterval(() => { for (const card of cards.values()) if (card.job.status === 'processing') render(card); }, 1000);
  await loadJobs();
  connectFeed();
}
