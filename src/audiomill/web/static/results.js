// A completed job's outputs: players by media type, stems synchronised, variations side by side.

import { h } from './dom.js';
import { post } from './api.js';
import { stemMixer } from './mixer.js';

const STANDALONE = new Set(['mix', 'preview']);

export function isPlayableAudio(output) {
  return output.media_type.startsWith('audio/') && !output.media_type.includes('midi');
}

/** "v2:stem:drums" -> {variation: 2, base: "stem:drums", stem: "drums"} */
export function splitName(name) {
  const match = /^v(\d+):(.*)$/.exec(name);
  const variation = match ? Number(match[1]) : 1;
  const base = match ? match[2] : name;
  return { variation, base, stem: base.replace(/^stem:/, '') };
}


function fileLink(output) {
  return h('a', { href: output.url, download: '', class: 'file-link' }, `Download ${output.name}`, ' (', output.filename, ')');
}

function otherOutput(output) {
  if (output.media_type.startsWith('video/')) {
    return h('figure', { class: 'media' },
      h('video', { controls: true, preload: 'metadata', src: output.url, 'aria-label': `Video ${output.name}` }),
      h('figcaption', {}, fileLink(output)));
  }
  if (output.media_type.startsWith('image/')) {
    return h('figure', { class: 'media' },
      h('img', { src: output.url, alt: `${output.name} of the job`, loading: 'lazy' }),
      h('figcaption', {}, fileLink(output)));
  }
  return h('p', {}, fileLink(output));
}

async function mixStems(job, outputs, chosen) {
  const audible = chosen.filter((c) => c.audible);
  if (!audible.length) throw new Error('every stem is muted: unmute at least one to mix');
  const byName = new Map(outputs.map((o) => [o.name, o]));
  const inputs = {};
  const mix = {};
  const stems = [];
  for (const choice of audible) {
    const key = splitName(choice.name).stem.replace(/[^A-Za-z0-9_-]/g, '_');
    inputs[key] = byName.get(choice.name).asset_id;
    stems.push(key);
    if (Math.abs(choice.gain_db) > 0.01) mix[key] = { gain_db: Math.max(-60, Math.min(24, choice.gain_db)) };
  }
  const created = await post('/api/v1/jobs', { kind: 'mixdown', params: { stems, mix }, inputs });
  document.dispatchEvent(new CustomEvent('job-created', { detail: created }));
  return `mixing ${stems.join(', ')}: job ${created.id.slice(0, 8)} started (see the job list)`;
}

function variationColumn(job, number, outputs, showTitle) {
  const column = h('div', { class: 'variation', dataset: { variation: String(number) } });
  if (showTitle) column.append(h('h4', { text: `Variation ${number}` }));
  const standalone = outputs.filter((o) => isPlayableAudio(o) && STANDALONE.has(splitName(o.name).base));
  const stems = outputs.filter((o) => isPlayableAudio(o) && !STANDALONE.has(splitName(o.name).base));
  for (const output of standalone) {
    column.append(stemMixer([{ name: output.name, label: splitName(output.name).base, url: output.url }], { title: output.name }));
  }
  if (stems.length) {
    const tracks = stems.map((o) => ({ name: o.name, label: splitName(o.name).stem, url: o.url }));
    column.append(stemMixer(tracks, {
      title: stems.length > 1 ? `Stems${showTitle ? ` of variation ${number}` : ''}` : stems[0].name,
      onMix: (chosen) => mixStems(job, stems, chosen),
    }));
  }
  for (const output of outputs.filter((o) => !isPlayableAudio(o))) column.append(otherOutput(output));
  return column;
}

/** The results of a completed job. */
export function jobResults(job) {
  const box = h('div', { class: 'results' });
  if (job.kind === 'analyze' && job.result) {
    const r = job.result;
    const facts = [['bpm', r.bpm], ['key', r.key], ['duration', r.duration_seconds && `${r.duration_seconds} s`], ['loudness', r.integrated_lufs && `${r.integrated_lufs} LUFS`]]
      .filter(([, v]) => v !== undefined && v !== null && typeof v !== 'object');
    if (facts.length) box.append(h('dl', { class: 'facts' }, facts.map(([k, v]) => [h('dt', { text: k }), h('dd', { text: v })])));
    // The analysis' own peaks draw the analysed track's waveform; nothing is decoded twice.
    const input = job.inputs[0];
    const waveform = r.waveform;
    if (input && waveform && Array.isArray(waveform.min)) {
      box.append(stemMixer([{ name: input.name, label: input.filename, url: `/api/v1/assets/${input.asset_id}/content`,
        peaks: { min: waveform.min, max: waveform.max } }], { title: input.filename }));
    }
  }
  if (job.result && typeof job.result.similarity_score === 'number') {
    box.append(h('p', { text: `Similarity to the target voice: ${job.result.similarity_score.toFixed(3)}` }));
  }
  const groups = new Map();
  for (const output of job.outputs) {
    const { variation } = splitName(output.name);
    if (!groups.has(variation)) groups.set(variation, []);
    groups.get(variation).push(output);
  }
  const several = groups.size > 1;
  const grid = h('div', { class: several ? 'variations' : 'single' });
  for (const number of [...groups.keys()].sort((a, b) => a - b)) grid.append(variationColumn(job, number, groups.get(number), several));
  box.append(grid);
  if (job.archive_url) box.append(h('p', {}, h('a', { href: job.archive_url, download: '', class: 'button-like' }, 'Download all (zip)')));
  return box;
}
