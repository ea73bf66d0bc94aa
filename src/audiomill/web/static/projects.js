// Music projects: the history tree (branches, forks), a commit's stems, commit, fork,
// A/B between two commits with their diff, and a server mixdown.

import { h, svg, clear, showError } from './dom.js';
import { get, post, uploadAsset } from './api.js';
import { stemMixer } from './mixer.js';
import { completedJobs } from './jobs.js';
import { isPlayableAudio, splitName } from './results.js';

let repos = [];
let current = null; // {repo, commits, branches, selectedA, selectedB}

const ROW_HEIGHT = 30;
const LANE_WIDTH = 22;

export async function loadRepos() {
  const list = document.getElementById('repos');
  const slot = document.querySelector('[data-error-for="repo-form"]');
  try {
    repos = (await get('/api/v1/repos')).data;
    showError(slot, null);
  } catch (error) {
    showError(slot, error);
    return;
  }
  clear(list);
  for (const repo of repos) {
    const origin = repos.find((r) => r.id === repo.forked_from);
    list.append(h('li', {},
      h('button', { type: 'button', class: 'link', on: { click: () => openRepo(repo.id) }, text: repo.name }),
      repo.forked_from ? h('span', { class: 'muted', text: ` ↳ fork of ${origin ? origin.name : 'another project'}` }) : null));
  }
}

/** Lanes: a commit continues its parent's lane unless a sibling took it first. */
function layout(commits) {
  const lane = new Map();
  const taken = new Set();
  let lanes = 0;
  for (const commit of commits) {
    if (commit.parent_id && lane.has(commit.parent_id) && !taken.has(commit.parent_id)) {
      lane.set(commit.id, lane.get(commit.parent_id));
      taken.add(commit.parent_id);
    } else {
      lane.set(commit.id, commit.parent_id ? lanes++ : lanes++);
    }
  }
  return { lane, lanes: Math.max(1, lanes) };
}

function historyTree(commits, branches, onPick) {
  const { lane, lanes } = layout(commits);
  const row = new Map(commits.map((c, i) => [c.id, commits.length - 1 - i])); // newest on top
  const width = lanes * LANE_WIDTH + 16;
  const height = Math.max(1, commits.length) * ROW_HEIGHT;
  const x = (id) => 12 + lane.get(id) * LANE_WIDTH;
  const y = (id) => ROW_HEIGHT / 2 + row.get(id) * ROW_HEIGHT;
  const drawing = svg('svg', { width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': `History: ${commits.length} commits on ${branches.length} branches`, class: 'tree' });
  for (const commit of commits) {
    for (const parent of [commit.parent_id, commit.merge_parent_id]) {
      if (!parent || !row.has(parent)) continue;
      const path = `M${x(parent)},${y(parent)} C${x(parent)},${y(commit.id) + ROW_HEIGHT / 2} ${x(commit.id)},${y(parent) - ROW_HEIGHT / 2} ${x(commit.id)},${y(commit.id)}`;
      drawing.append(svg('path', { d: path, class: `edge lane-${lane.get(commit.id) % 6}` }));
    }
  }
  for (const commit of commits) {
    drawing.append(svg('circle', { cx: x(commit.id), cy: y(commit.id), r: 6, class: `node lane-${lane.get(commit.id) % 6}` }, svg('title', { text: commit.message || commit.id })));
  }
  const list = h('ol', { class: 'commits', style: undefined });
  for (const commit of commits.slice().reverse()) {
    const heads = branches.filter((b) => b.head_commit_id === commit.id).map((b) => b.name);
    list.append(onPick(commit, heads));
  }
  return h('div', { class: 'history' }, drawing, list);
}

function stemTracks(commit, group) {
  return commit.stems.map((stem) => ({ name: `${group || ''}${stem.type}`, label: stem.type, url: stem.url, group }));
}

async function showCommit(commit, target) {
  clear(target);
  const error = h('p', { class: 'error', role: 'alert' });
  target.append(h('h4', {}, 'Commit ', h('code', { text: commit.id.slice(0, 8) }), ' ', h('span', { text: commit.message })), error);
  let full;
  try {
    full = await get(`/api/v1/repos/${current.repo.id}/commits/${commit.id}`);
  } catch (problem) {
    showError(error, problem);
    return;
  }
  if (!full.stems.length) target.append(h('p', { class: 'muted', text: 'No stems in this commit.' }));
  else target.append(stemMixer(stemTracks(full), { title: `Stems of commit ${commit.id.slice(0, 8)}` }));
  if (full.render_url) target.append(stemMixer([{ name: 'render', label: 'mixdown', url: full.render_url }], { title: 'Mixdown' }));
  const status = h('span', { class: 'muted', role: 'status' });
  const mixError = h('span', { class: 'error', role: 'alert' });
  const mixButton = h('button', { type: 'button', text: 'Mixdown this commit' });
  mixButton.addEventListener('click', async () => {
    mixError.textContent = '';
    try {
      const job = await post(`/api/v1/repos/${current.repo.id}/commits/${commit.id}/mixdown`, {});
      document.dispatchEvent(new CustomEvent('job-created', { detail: job }));
      status.textContent = `mixdown job ${job.id.slice(0, 8)} started (see Jobs)`;
    } catch (problem) {
      showError(mixError, problem);
    }
  });
  if (full.stems.length) target.append(h('div', { class: 'row' }, mixButton, status, mixError));
  const branchName = h('input', { name: 'name', required: true, maxlength: '100', placeholder: 'new branch name', 'aria-label': 'Name of a new branch from this commit' });
  const branchError = h('span', { class: 'error', role: 'alert' });
  const branchForm = h('form', { class: 'row', 'aria-label': 'Branch from this commit' }, branchName, h('button', { type: 'submit', text: 'Branch from here' }), branchError);
  branchForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    branchError.textContent = '';
    try {
      await post(`/api/v1/repos/${current.repo.id}/branches`, { name: branchName.value, from_commit: commit.id });
      await openRepo(current.repo.id);
    } catch (problem) {
      showError(branchError, problem);
    }
  });
  target.append(branchForm);
}

async function compare(target) {
  clear(target);
  const { selectedA: a, selectedB: b } = current;
  const error = h('p', { class: 'error', role: 'alert' });
  target.append(h('h4', { text: `A/B: ${a.slice(0, 8)} → ${b.slice(0, 8)}` }), error);
  let diff;
  let commitA;
  let commitB;
  try {
    [diff, commitA, commitB] = await Promise.all([
      get(`/api/v1/repos/${current.repo.id}/diff?a=${encodeURIComponent(a)}&b=${encodeURIComponent(b)}`),
      get(`/api/v1/repos/${current.repo.id}/commits/${a}`),
      get(`/api/v1/repos/${current.repo.id}/commits/${b}`),
    ]);
  } catch (problem) {
    showError(error, problem);
    return;
  }
  const table = h('table', { class: 'diff' },
    h('caption', { text: 'What changed from A to B' }),
    h('thead', {}, h('tr', {}, ['Stem', 'Change', 'Loudness', 'Length', 'Differs'].map((t) => h('th', { scope: 'col', text: t })))));
  const body = h('tbody');
  for (const stem of diff.stems) {
    const c = stem.change;
    body.append(h('tr', { dataset: { status: stem.status } },
      h('td', { text: stem.type }),
      h('td', { text: stem.status }),
      h('td', { text: c && c.loudness_change_db !== null ? `${c.loudness_change_db > 0 ? '+' : ''}${c.loudness_change_db.toFixed(1)} dB` : '' }),
      h('td', { text: c ? `${c.length_change_seconds > 0 ? '+' : ''}${c.length_change_seconds.toFixed(2)} s` : '' }),
      h('td', { text: c ? `${c.differing_seconds.toFixed(2)} s` : '' })));
  }
  table.append(body);
  target.append(table);
  const tracks = [...stemTracks(commitA, 'A'), ...stemTracks(commitB, 'B')];
  if (tracks.length) target.append(stemMixer(tracks, { title: 'A/B', groups: ['A', 'B'] }));
}

function commitForm(onDone) {
  const error = h('p', { class: 'error', role: 'alert' });
  const message = h('input', { name: 'message', maxlength: '10000', placeholder: 'what changed', 'aria-label': 'Commit message' });
  const source = h('select', { name: 'source', 'aria-label': 'Stems to commit' });
  source.append(h('option', { value: '', text: 'stems from a finished job…' }));
  for (const job of completedJobs()) {
    if (!job.outputs.some(isPlayableAudio)) continue;
    const label = `${job.kind}: ${job.params.prompt || job.inputs.map((i) => i.filename).join(' + ') || job.id.slice(0, 8)}`;
    source.append(h('option', { value: job.id, text: label.slice(0, 80) }));
  }
  const stemType = h('input', { name: 'type', placeholder: 'stem type, e.g. vocals', maxlength: '64', 'aria-label': 'Stem type of the file' });
  const file = h('input', { type: 'file', name: 'file', accept: 'audio/*', 'aria-label': 'Audio file to commit as a stem' });
  const button = h('button', { type: 'submit', text: 'Commit' });
  const branch = h('select', { name: 'branch', 'aria-label': 'Branch to commit on' });
  const branches = current.branches.slice().sort((a, b) => Number(b.is_default) - Number(a.is_default));
  for (const ref of branches) branch.append(h('option', { value: ref.name, text: `on branch ${ref.name}` }));
  const form = h('form', { class: 'stack commit-form', 'aria-label': 'New commit' },
    h('h4', { text: 'New commit' }), message, branches.length > 1 ? branch : null, source,
    h('div', { class: 'row' }, h('span', { class: 'muted', text: 'or a file:' }), stemType, file), button, error);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    error.textContent = '';
    const stems = [];
    try {
      if (source.value) {
        const job = completedJobs().find((j) => j.id === source.value);
        let outputs = job.outputs.filter((o) => isPlayableAudio(o) && splitName(o.name).variation === 1);
        const parts = outputs.filter((o) => !['mix', 'preview'].includes(o.name));
        if (parts.length) outputs = parts;
        for (const o of outputs) stems.push({ type: splitName(o.name).stem, asset_id: o.asset_id });
      }
      if (file.files.length) {
        if (!stemType.value.trim()) throw new Error('give the file a stem type (e.g. vocals)');
        const uploaded = await uploadAsset(file.files[0]);
        stems.push({ type: stemType.value.trim(), asset_id: uploaded.id });
      }
      if (!stems.length) throw new Error('choose a finished job or a file to commit');
      const body = { message: message.value, stems };
      if (branches.length > 1) body.branch = branch.value;
      await post(`/api/v1/repos/${current.repo.id}/commits`, body);
      await onDone();
    } catch (problem) {
      showError(error, problem);
    }
  });
  return form;
}

export async function openRepo(id) {
  const target = clear(document.getElementById('repo-detail'));
  const error = h('p', { class: 'error', role: 'alert' });
  target.append(error);
  let repo;
  let history;
  let branches;
  try {
    [repo, history, branches] = await Promise.all([
      get(`/api/v1/repos/${id}`), get(`/api/v1/repos/${id}/commits`), get(`/api/v1/repos/${id}/branches`),
    ]);
  } catch (problem) {
    showError(error, problem);
    return;
  }
  current = { repo, commits: history.data, branches: branches.data, selectedA: null, selectedB: null };
  const viewer = h('div', { class: 'commit-view', 'aria-live': 'polite' });
  const compareButton = h('button', { type: 'button', text: 'Compare A and B', disabled: true });
  compareButton.addEventListener('click', () => compare(viewer));
  const pick = (commit, heads) => {
    const radioA = h('input', { type: 'radio', name: 'commit-a', value: commit.id, 'aria-label': `Use ${commit.message || commit.id} as A` });
    const radioB = h('input', { type: 'radio', name: 'commit-b', value: commit.id, 'aria-label': `Use ${commit.message || commit.id} as B` });
    const update = () => {
      current.selectedA = document.querySelector('input[name="commit-a"]:checked')?.value || null;
      current.selectedB = document.querySelector('input[name="commit-b"]:checked')?.value || null;
      compareButton.disabled = !(current.selectedA && current.selectedB && current.selectedA !== current.selectedB);
    };
    radioA.addEventListener('change', update);
    radioB.addEventListener('change', update);
    return h('li', { class: 'commit', dataset: { commitId: commit.id } },
      h('label', { class: 'ab-pick' }, radioA, 'A'),
      h('label', { class: 'ab-pick' }, radioB, 'B'),
      h('button', { type: 'button', class: 'link', on: { click: () => showCommit(commit, viewer) } },
        h('code', { text: commit.id.slice(0, 8) }), ' ', h('span', { text: commit.message || '(no message)' })),
      heads.map((name) => h('span', { class: 'branch', text: name })));
  };
  const forks = repos.filter((r) => r.forked_from === repo.id);
  const forkName = h('input', { name: 'name', required: true, maxlength: '200', value: `${repo.name}-fork`, 'aria-label': 'Name of the fork' });
  const forkError = h('span', { class: 'error', role: 'alert' });
  const forkForm = h('form', { class: 'row', 'aria-label': 'Fork this project' }, forkName, h('button', { type: 'submit', text: 'Fork' }), forkError);
  forkForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    forkError.textContent = '';
    try {
      const fork = await post(`/api/v1/repos/${repo.id}/fork`, { name: forkName.value });
      await loadRepos();
      await openRepo(fork.id);
    } catch (problem) {
      showError(forkError, problem);
    }
  });
  const origin = repos.find((r) => r.id === repo.forked_from);
  target.append(...[
    h('h3', { class: 'repo-name', text: repo.name }),
    repo.forked_from ? h('p', { class: 'muted', text: `↳ forked from ${origin ? origin.name : repo.forked_from}` }) : null,
    repo.description ? h('p', { text: repo.description }) : null,
    forkForm,
    forks.length ? h('p', { class: 'forks' }, 'Forks: ', forks.map((f, i) => [i ? ', ' : '', h('button', { type: 'button', class: 'link', on: { click: () => openRepo(f.id) }, text: f.name })])) : null,
    current.commits.length ? historyTree(current.commits, current.branches, pick) : h('p', { class: 'muted', text: 'No commits yet.' }),
    current.commits.length > 1 ? compareButton : null,
    viewer,
    commitForm(() => openRepo(repo.id)),
  ].filter(Boolean));
}

export function startProjects() {
  const form = document.getElementById('repo-form');
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const slot = form.querySelector('[data-error-for="repo-form"]');
    showError(slot, null);
    try {
      const repo = await post('/api/v1/repos', { name: form.elements.name.value });
      form.reset();
      await loadRepos();
      await openRepo(repo.id);
    } catch (error) {
      showError(slot, error);
    }
  });
}
