// Talking to /api/v1: JSON in and out, the CSRF token on every state-changing request of a
// cookie session, and every error turned into words (the API's own "detail").

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export function csrfToken() {
  for (const part of document.cookie.split(';')) {
    const [name, ...rest] = part.trim().split('=');
    if (name === 'csrftoken') return decodeURIComponent(rest.join('='));
  }
  return '';
}

/** The API's error body in words: {"detail": "..."} or FastAPI's list of problems. */
export function describeError(status, body, statusText) {
  const detail = body && (body.detail ?? body.message ?? body.error);
  if (typeof detail === 'string' && detail) return detail;
  if (Array.isArray(detail)) {
    return detail
      .map((item) => {
        const where = (item.loc || []).filter((p) => !['body', 'query', 'path'].includes(p)).join('.');
        return where ? `${where}: ${item.msg}` : String(item.msg);
      })
      .join('; ');
  }
  return `the server answered ${status}${statusText ? ' ' + statusText : ''}`;
}

async function readBody(response) {
  const type = response.headers.get('content-type') || '';
  if (!type.includes('json')) return null;
  try {
    return await response.json();
  } catch {
    return null;
  }
}

export async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  const init = { method, headers, credentials: 'same-origin' };
  if (body instanceof FormData) init.body = body;
  else if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  if (UNSAFE.has(method)) {
    const token = csrfToken();
    if (token) headers['X-CSRFToken'] = token;
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    throw new ApiError(0, `the server could not be reached (${error.message})`);
  }
  if (response.status === 204) return null;
  const data = await readBody(response);
  if (!response.ok) throw new ApiError(response.status, describeError(response.status, data, response.statusText));
  return data;
}

export const get = (path) => api('GET', path);
export const post = (path, body) => api('POST', path, body ?? {});
export const del = (path) => api('DELETE', path);

/** Upload one file as an asset, reporting progress (0-1); resolves to the asset. */
export function uploadAsset(file, onProgress) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open('POST', '/api/v1/assets');
    request.setRequestHeader('Accept', 'application/json');
    const token = csrfToken();
    if (token) request.setRequestHeader('X-CSRFToken', token);
    request.upload.onprogress = (event) => {
      if (event.lengthComputable && onProgress) onProgress(event.loaded / event.total);
    };
    request.onerror = () => reject(new ApiError(0, 'the upload failed: the server could not be reached'));
    request.onload = () => {
      let data = null;
      try {
        data = JSON.parse(request.responseText);
      } catch {
        data = null;
      }
      if (request.status >= 200 && request.status < 300) resolve(data);
      else reject(new ApiError(request.status, describeError(request.status, data, request.statusText)));
    };
    const form = new FormData();
    form.append('file', file, file.name);
    request.send(form);
  });
}
