// Players: every audio output with its waveform; the stems of one result synchronised on
// one WebAudio clock with mute / solo / volume, optionally as two sets to A/B.

import { h, formatSeconds } from './dom.js';

let sharedContext = null;
let playingNow = null; // one player sounds at a time: starting one pauses the other


function audioContext() {
  sharedContext = sharedContext || new AudioContext();
  return sharedContext;
}

const decoded = new Map(); // url -> Promise<AudioBuffer>
function decode(url) {
  if (!decoded.has(url)) {
    decoded.set(url, (async () => {
      const response = await fetch(url, { credentials: 'same-origin' });
      if (!response.ok) throw new Error(`could not load the audio (${response.status})`);
      return audioContext().decodeAudioData(await response.arrayBuffer());
    })());
  }
  return decoded.get(url);
}

/** min/max per column over all channels. */
function peaksOf(buffer, columns) {
  const low = new Float32Array(columns).fill(1);
  const high = new Float32Array(columns).fill(-1);
  const span = buffer.length / columns;
  for (let c = 0; c < buffer.numberOfChannels; c++) {
    const data = buffer.getChannelData(c);
    const step = Math.max(1, Math.floor(span / 64)); // sampled: fast on long songs, shape kept
    for (let i = 0; i < data.length; i += step) {
      const column = Math.min(columns - 1, Math.floor(i / span));
      const value = data[i];
      if (value < low[column]) low[column] = value;
      if (value > high[column]) high[column] = value;
    }
  }
  return { min: low, max: high };
}

/** Redraw the peaks, the part before `fraction` in the played colour. */
function draw(canvas, peaks, fraction) {
  const context = canvas.getContext('2d');
  const { width, height } = canvas;
  context.clearRect(0, 0, width, height);
  if (!peaks) return;
  const columns = peaks.min.length;
  const played = fraction * width;
  for (let x = 0; x < width; x++) {
    const column = Math.floor((x / width) * columns);
    const top = ((1 - Math.max(peaks.max[column], 0)) * height) / 2;
    const bottom = ((1 - Math.min(peaks.min[column], 0)) * height) / 2;
    context.fillStyle = x < played ? '#1d5fbf' : '#8fb2e3';
    context.fillRect(x, top, 1, Math.max(1, bottom - top));
  }
}

function sizeCanvas(canvas) {
  const ratio = window.devicePixelRatio || 1;
  canvas.width = Math.max(100, Math.round(canvas.clientWidth * ratio) || 600);
  canvas.height = Math.round(56 * ratio);
}

/**
 * A synchronised set of tracks: [{name, label, url, download, group?, peaks?}].
 * Options: {title, groups: ['A','B'] to add an A/B switch, onMix(tracks) for a server mix}.
 */
export function stemMixer(tracks, options = {}) {
  const state = { playing: false, offset: 0, startedAt: 0, duration: 0, sources: [], frame: 0, listening: options.groups?.[0] };
  const master = { node: null };
  const rows = tracks.map((track) => ({ ...track, volume: 1, mute: false, solo: false, buffer: null, peaks: track.peaks || null, gain: null }));
  const root = h('div', { class: 'mixer', dataset: { state: 'paused' }, role: 'group', 'aria-label': options.title || 'Player' });
  const playButton = h('button', { type: 'button', class: 'play', 'aria-label': `Play ${options.title || ''}`.trim(), text: '▶ Play' });
  const time = h('span', { class: 'time', 'aria-live': 'off', text: '0:00' });
  const status = h('span', { class: 'error', role: 'alert' });
  const transport = h('div', { class: 'transport' }, playButton, time, status);
  root.append(transport);

  let abButton = null;
  if (options.groups) {
    abButton = h('button', { type: 'button', class: 'ab', 'aria-label': 'Switch between A and B', text: `Listening: ${state.listening}` });
    abButton.addEventListener('click', () => {
      state.listening = state.listening === options.groups[0] ? options.groups[1] : options.groups[0];
      abButton.textContent = `Listening: ${state.listening}`;
      root.dataset.listening = state.listening;
      applyGains();
    });
    root.dataset.listening = state.listening;
    transport.append(abButton);
  }

  function audible(row) {
    if (options.groups && row.group !== state.listening) return false;
    const soloing = rows.some((r) => r.solo && (!options.groups || r.group === state.listening));
    return soloing ? row.solo : !row.mute;
  }

  function applyGains() {
    const context = sharedContext;
    for (const row of rows) {
      const on = audible(row);
      row.element.dataset.audible = String(on);
      if (row.gain && context) row.gain.gain.setTargetAtTime(on ? row.volume : 0, context.currentTime, 0.01);
    }
  }

  for (const row of rows) {
    const canvas = h('canvas', { class: 'wave', role: 'slider', tabindex: '0', 'aria-label': `Waveform of ${row.label}: click to seek`, 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': '0' });
    const mute = h('button', { type: 'button', class: 'toggle', 'aria-pressed': 'false', 'aria-label': `Mute ${row.label}`, text: 'M' });
    const solo = h('button', { type: 'button', class: 'toggle', 'aria-pressed': 'false', 'aria-label': `Solo ${row.label}`, text: 'S' });
    const volume = h('input', { type: 'range', min: '0', max: '1.5', step: '0.01', value: '1', 'aria-label': `Volume of ${row.label}` });
    const download = h('a', { href: row.download || row.url, download: '', class: 'download', 'aria-label': `Download ${row.label}`, text: '⤓' });
    mute.addEventListener('click', () => {
      row.mute = !row.mute;
      mute.setAttribute('aria-pressed', String(row.mute));
      applyGains();
    });
    solo.addEventListener('click', () => {
      row.solo = !row.solo;
      solo.setAttribute('aria-pressed', String(row.solo));
      applyGains();
    });
    volume.addEventListener('input', () => {
      row.volume = Number(volume.value);
      applyGains();
    });
    canvas.addEventListener('click', (event) => {
      const box = canvas.getBoundingClientRect();
      seek(((event.clientX - box.left) / box.width) * state.duration);
    });
    canvas.addEventListener('keydown', (event) => {
      const step = event.key === 'ArrowRight' ? 5 : event.key === 'ArrowLeft' ? -5 : 0;
      if (step) seek(position() + step);
    });
    const label = h('span', { class: 'stem-name', text: row.group ? `${row.group} · ${row.label}` : row.label });
    row.canvas = canvas;
    row.element = h('div', { class: 'stem', dataset: { stem: row.name, audible: 'true', group: row.group || '' } },
      label, h('div', { class: 'stem-controls' }, mute, solo, volume, download), canvas);
    root.append(row.element);
  }

  if (options.onMix && rows.length > 1) {
    const mixButton = h('button', { type: 'button', text: 'Mix the audible stems' });
    const mixStatus = h('span', { class: 'muted', role: 'status' });
    const mixError = h('span', { class: 'error', role: 'alert' });
    mixButton.addEventListener('click', async () => {
      mixError.textContent = '';
      const chosen = rows.map((row) => ({ name: row.name, audible: audible(row), gain_db: row.volume > 0 ? 20 * Math.log10(row.volume) : -60 }));
      try {
        mixStatus.textContent = await options.onMix(chosen);
      } catch (error) {
        mixError.textContent = error.message;
      }
    });
    root.append(h('div', { class: 'row' }, mixButton, mixStatus, mixError));
  }

  const loading = Promise.all(rows.map(async (row) => {
    try {
      row.buffer = await decode(row.url);
      row.peaks = row.peaks || peaksOf(row.buffer, 800);
      state.duration = Math.max(state.duration, row.buffer.duration);
    } catch (error) {
      row.element.append(h('span', { class: 'error', role: 'alert', text: `${row.label}: ${error.message}` }));
    }
    sizeCanvas(row.canvas);
    draw(row.canvas, row.peaks, 0);
  })).then(() => {
    root.dataset.loaded = 'true';
    time.textContent = `0:00 / ${formatSeconds(state.duration)}`;
  });

  function position() {
    if (!state.playing) return state.offset;
    return Math.min(state.duration, state.offset + sharedContext.currentTime - state.startedAt);
  }

  function stopSources() {
    for (const row of rows) if (row.gain) row.gain.disconnect();
    for (const source of state.sources) {
      source.onended = null;
      try { source.stop(); } catch { /* already stopped */ }
    }
    state.sources = [];
  }

  async function play() {
    await loading;
    if (playingNow && playingNow !== root) playingNow.stop();
    playingNow = root;
    const context = audioContext();
    await context.resume();
    if (state.offset >= state.duration) state.offset = 0;
    master.node = master.node || context.createGain();
    master.node.connect(context.destination);
    const when = context.currentTime + 0.05;
    for (const row of rows) {
      if (!row.buffer) continue;
      row.gain = context.createGain();
      row.gain.gain.value = audible(row) ? row.volume : 0;
      row.gain.connect(master.node);
      const source = context.createBufferSource();
      source.buffer = row.buffer;
      source.connect(row.gain);
      source.start(when, Math.min(state.offset, row.buffer.duration));
      state.sources.push(source);
    }
    state.startedAt = when;
    state.playing = true;
    root.dataset.state = 'playing';
    playButton.textContent = '❚❚ Pause';
    tick();
  }

  function pause() {
    state.offset = position();
    stopSources();
    state.playing = false;
    root.dataset.state = 'paused';
    playButton.textContent = '▶ Play';
    render();
  }

  function seek(seconds) {
    const target = Math.max(0, Math.min(state.duration, seconds || 0));
    if (state.playing) {
      stopSources();
      state.playing = false;
      state.offset = target;
      play();
    } else {
      state.offset = target;
      render();
    }
  }

  function render() {
    const now = position();
    const fraction = state.duration ? now / state.duration : 0;
    time.textContent = `${formatSeconds(now)} / ${formatSeconds(state.duration)}`;
    root.dataset.position = now.toFixed(2);
    for (const row of rows) {
      draw(row.canvas, row.peaks, fraction);
      row.canvas.setAttribute('aria-valuenow', String(Math.round(fraction * 100)));
    }
  }

  function tick() {
    cancelAnimationFrame(state.frame);
    if (!state.playing) return;
    if (position() >= state.duration) {
      pause();
      state.offset = 0;
      render();
      return;
    }
    render();
    state.frame = requestAnimationFrame(tick);
  }

  playButton.addEventListener('click', () => {
    status.textContent = '';
    (state.playing ? Promise.resolve(pause()) : play()).catch((error) => { status.textContent = error.message; });
  });
  root.stop = () => state.playing && pause();
  return root;
}
