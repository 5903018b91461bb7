// The JSON API as the console calls it: every request carries the signed-in bearer token
// (kept in sessionStorage, so it goes when the tab closes), and every refusal becomes an
// ApiError holding the API's own code and message.

const TOKEN_KEY = 'levee.token';

/** A refusal or failure, with the HTTP status (0: no answer) and the API's code and message. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function storedToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function storeToken(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function forgetToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

/**
 * Sends a request; the response if it succeeded, an ApiError otherwise. `body` is sent as JSON;
 * `file` (a File or Blob) as it is, with its own media type.
 */
export async function request(path, { method = 'GET', body, file, accept = 'application/json', token } = {}) {
  const headers = { Accept: accept, Authorization: `Bearer ${token ?? storedToken() ?? ''}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (file !== undefined) headers['Content-Type'] = file.type || 'application/octet-stream';
  let response;
  try {
    response = await fetch(path, {
      method, headers, cache: 'no-store', body: file ?? (body === undefined ? undefined : JSON.stringify(body)),
    });
  } catch (error) {
    throw new ApiError(0, 'network', `levee did not answer: ${error.message}`);
  }
  if (!response.ok) throw await refusal(response);
  return response;
}

export async function getJson(path, options = {}) {
  return (await request(path, options)).json();
}

export async function postJson(path, body) {
  return (await request(path, { method: 'POST', body })).json();
}

/** A text body, e.g. an SVG chart. */
export async function getText(path, accept) {
  return (await request(path, { accept })).text();
}

async function refusal(response) {
  let code = `http_${response.status}`;
  let message = response.statusText || `HTTP ${response.status}`;
  try {
    const body = await response.json();
    if (body && body.error) {
      code = body.error.code;
      message = body.error.message;
    }
  } catch {
    // Not JSON: keep the status text.
  }
  return new ApiError(response.status, code, message);
}

/** What to tell the user about an error: the API's message, with what 401 and 403 mean. */
export function describe(error) {
  if (!(error instanceof ApiError)) return String(error && error.message ? error.message : error);
  if (error.status === 401) return `Not signed in, or the token is not valid (401): ${error.message}`;
  if (error.status === 403) return `Your role may not do this (403): ${error.message}`;
  if (error.status === 404) return `Not found (404): ${error.message}`;
  return error.message;
}

/** A path segment, escaped. */
export function segment(value) {
  return encodeURIComponent(value);
}
