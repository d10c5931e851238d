// Talking to the web app: JSON endpoints, classify uploads, streamed answers (maps, searches) and
// the live WebSocket stream.
import { labelsFromRgba } from "./regions.js";

export class ApiError extends Error {
  constructor(message, { status = 0, code = "" } = {}) {
    super(message);
    this.status = status;
    this.code = code;
  }
  // Only these mean "the service is away, try again when it is back"; other errors are final.
  get unavailable() { return this.status === 503 || this.code === "UNAVAILABLE"; }
}

const UNREACHABLE = "The Maskscope web server is not reachable. Check that it is running.";

// fetch, with the failures the page shows: unreachable (status 0) or the server's {error, code}.
async function send(url, options = {}) {
  let response;
  try {
    response = await fetch(url, options);
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(UNREACHABLE, { status: 0, code: "UNAVAILABLE" });
  }
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    throw new ApiError(body.error || `${response.status} ${response.statusText}`,
      { status: response.status, code: body.code || "" });
  }
  return response;
}

async function request(url, options = {}) {
  return (await send(url, options)).json().catch(() => ({}));
}

const postJson = (url, body) => request(url, {
  method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });

// Deletion curves (RISE) of the named maps, and a random order's: {curves: {name: {probabilities, auc}}}.
export const getFaithfulness = (body) => postJson("/api/faithfulness", body);

export const getModels = (labels = false) => request(labels ? "/api/models?labels=1" : "/api/models");
export const getSamples = () => request("/api/samples");
export const getHealth = () => request("/api/health");
// What the web app takes: {upload_bytes (the page checks a photo against it), live_message_bytes}.
export const getLimits = () => request("/api/limits");
// A photo the web app serves (a sample, a study's photo), as a Blob.
export const getPhoto = async (url) => (await send(url)).blob();

// The photo's regions: {labels: Uint8Array (one region number per pixel), count}.
export async function getSegments(imageId) {
  const response = await send(`/api/segments?image_id=${encodeURIComponent(imageId)}`);
  const count = Number(response.headers.get("X-Maskscope-Regions"));
  const { values: labels, width, height } = await greyPixels(await response.blob());
  return { labels, count, width, height };
}

// A greyscale PNG's pixels: {values: Uint8Array (each pixel's grey), width, height}.
async function greyPixels(blob) {
  const bitmap = await createImageBitmap(blob, { colorSpaceConversion: "none" });
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  ctx.drawImage(bitmap, 0, 0);
  const rgba = ctx.getImageData(0, 0, bitmap.width, bitmap.height).data;
  return { values: labelsFromRgba(rgba), width: bitmap.width, height: bitmap.height };
}

// A data: URL's bytes as a Blob (decoded here: the page's connect-src does not take data: URLs).
function dataUrlBlob(url) {
  const [head, data] = url.split(",", 2);
  const binary = atob(data);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return new Blob([bytes], { type: head.slice(5).split(";")[0] });
}

// The fields classify and explain share: `image` (a Blob) or `imageId`; `mask` a PNG Blob or null.
function imageForm({ image, imageId, mask, model, fill, keepPainted }) {
  const form = new FormData();
  if (image) form.append("image", image, "image");
  else form.append("image_id", imageId);
  if (mask) form.append("mask", mask, "mask.png");
  form.append("model", model || "");
  form.append("fill", fill || "gray");
  form.append("keep_painted", keepPainted ? "true" : "false");
  return form;
}

function classifyForm({ topK, track, sequence, ...fields }) {
  const form = imageForm(fields);
  form.append("top_k", String(topK || 0)); // 0: the service's default, the top five (or fewer classes)
  form.append("track", (track || []).join(","));
  form.append("sequence", String(sequence || 0));
  return form;
}

// One classification.
export const classify = (fields) => request("/api/classify", { method: "POST", body: classifyForm(fields) });

// A streamed answer's lines of JSON, parsed, as they come; an {error} line throws.
async function* jsonLines(response) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffered += value;
    const lines = buffered.split("\n");
    buffered = lines.pop();
    for (const line of lines.filter(Boolean)) {
      const message = JSON.parse(line);
      if (message.error) throw new ApiError(message.error, { code: message.code, status: message.status });
      yield message;
    }
  }
}

// An occlusion map: the fields of classify plus classIndex, patchSize, stride. The answer streams
// in as lines of JSON; `onProgress(done, total)` sees each, and the map is returned at the end.
export async function explain({ classIndex, patchSize, stride, ...fields }, onProgress, signal) {
  const form = imageForm(fields);
  if (classIndex != null) form.append("class_index", String(classIndex));
  form.append("patch_size", String(patchSize || 0));
  form.append("stride", String(stride || 0));
  const response = await send("/api/explain", { method: "POST", body: form, signal });
  for await (const message of jsonLines(response)) {
    onProgress?.(message.done, message.total);
    if (message.map) return message.map;
  }
  throw new ApiError("The explanation stopped before it was finished.", { code: "UNAVAILABLE" });
}

// What flips it (`goal` "flip") or keeps it ("keep"): the photo (`image` or `imageId`, as
// uploaded: no mask), `model`, `fill`, `keepShare`. `onProgress(done, budget, bestArea)` sees each
// line; the result comes back with `hiddenMask` (a Uint8Array, 1 where hidden, the photo's size).
export async function search({ goal, keepShare, ...fields }, onProgress, signal) {
  const form = imageForm(fields);
  form.append("goal", goal);
  if (keepShare) form.append("keep_share", String(keepShare));
  const response = await send("/api/search", { method: "POST", body: form, signal });
  for await (const message of jsonLines(response)) {
    onProgress?.(message.done, message.budget, message.best_area);
    if (!message.result) continue;
    const result = message.result;
    result.hiddenMask = new Uint8Array(result.image_width * result.image_height);
    if (result.hidden) {
      const { values } = await greyPixels(dataUrlBlob(result.hidden));
      for (let i = 0; i < values.length; i++) result.hiddenMask[i] = values[i] > 127 ? 1 : 0;
    }
    return result;
  }
  throw new ApiError("The search stopped before it was finished.", { code: "UNAVAILABLE" });
}

// The session's HTML report, rendered by the web app from the session's JSON.
export async function reportHtml(sessionJson) {
  const response = await send("/api/report", { method: "POST", body: sessionJson,
    headers: { "Content-Type": "application/json" } });
  return response.blob();
}

// Study mode (web_client/study/views.py): a participant joins, finds where they are, records
// events ({kind, step, payload}) and classifies (the fields of classify, plus `step`), all logged.
export class StudyApi {
  constructor(studyId) { this.base = `/api/study/${encodeURIComponent(studyId)}/participants`; }

  join() { return request(this.base, { method: "POST" }); }

  where(participant) { return request(`${this.base}/${encodeURIComponent(participant)}`); }

  record(participant, event) { return postJson(`${this.base}/${encodeURIComponent(participant)}/events`, event); }

  // A simulation trial: shown ({step, photo}: its choices and image, never the model's answer), then answered.
  trial(participant, shown) { return postJson(`${this.base}/${encodeURIComponent(participant)}/trials`, shown); }

  answerTrial(participant, answer) {
    return postJson(`${this.base}/${encodeURIComponent(participant)}/trials/answer`, answer);
  }

  classify(participant, { step, ...fields }) {
    const form = classifyForm(fields);
    form.append("step", String(step));
    return request(`${this.base}/${encodeURIComponent(participant)}/classify`, { method: "POST", body: form });
  }
}

// The researcher's side of a study, with the admin token: the raw Response (JSON or a file).
export const getStudyAdmin = (studyId, path, token) => send(
  `/api/admin/studies/${encodeURIComponent(studyId)}/${path}`, { headers: { Authorization: `Bearer ${token}` } });

export async function blobToBase64(blob) {
  if (!blob) return "";
  const bytes = new Uint8Array(await blob.arrayBuffer());
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

// The close code the web app sends a live page that has sent nothing for its idle time
// (--ws-idle-timeout-s): nothing to do until the user paints again, when send() reconnects.
export const IDLE_CLOSE = 4000;

// Live mode: one WebSocket per page, bridged by the web app to one ClassifyStream RPC.
// Reconnects on the next send; `onMessage` gets every answer (or error) as parsed JSON,
// `onClosed(idle)` hears of a socket that closed (idle: closed for being idle, not lost).
export class LiveStream {
  constructor(onMessage, onClosed) {
    this.onMessage = onMessage;
    this.onClosed = onClosed;
    this.socket = null;
    this.queue = [];
  }

  send(message) {
    const text = JSON.stringify(message);
    if (this.socket?.readyState === WebSocket.OPEN) { this.socket.send(text); return; }
    this.queue = [text]; // only the newest message matters
    this._connect();
  }

  close() {
    this.socket?.close();
    this.socket = null;
  }

  _connect() {
    if (this.socket && this.socket.readyState === WebSocket.CONNECTING) return;
    const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/api/stream`;
    const socket = this.socket = new WebSocket(url);
    socket.addEventListener("open", () => {
      for (const text of this.queue.splice(0)) socket.send(text);
    });
    socket.addEventListener("message", (event) => this.onMessage(JSON.parse(event.data)));
    socket.addEventListener("close", (event) => {
      if (this.socket === socket) { this.socket = null; this.onClosed?.(event.code === IDLE_CLOSE); }
    });
  }
}
