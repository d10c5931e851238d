// Talking to the web app: JSON endpoints, classify uploads, and the live WebSocket stream.

export class ApiError extends Error {
  constructor(message, { status = 0, code = "" } = {}) {
    super(message);
    this.status = status;
    this.code = code;
  }
  get unavailable() { return this.status === 503 || this.code === "UNAVAILABLE" || this.status === 0; }
}

const UNREACHABLE = "The Maskscope web server is not reachable. Check that it is running.";

async function request(url, options = {}) {
  let response;
  try {
    response = await fetch(url, options);
  } catch {
    throw new ApiError(UNREACHABLE, { status: 0, code: "UNAVAILABLE" });
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw new ApiError(body.error || `${response.status} ${response.statusText}`,
      { status: response.status, code: body.code || "" });
  }
  return body;
}

export const getModels = () => request("/api/models");
export const getSamples = () => request("/api/samples");
export const getHealth = () => request("/api/health");

// One classification. `image` (a Blob) or `imageId`; `mask` a PNG Blob or null.
export function classify({ image, imageId, mask, model, fill, keepPainted, topK, track, sequence }) {
  const form = new FormData();
  if (image) form.append("image", image, "image");
  else form.append("image_id", imageId);
  if (mask) form.append("mask", mask, "mask.png");
  form.append("model", model || "");
  form.append("fill", fill || "gray");
  form.append("keep_painted", keepPainted ? "true" : "false");
  form.append("top_k", String(topK || 5));
  form.append("track", (track || []).join(","));
  form.append("sequence", String(sequence || 0));
  return request("/api/classify", { method: "POST", body: form });
}

export async function blobToBase64(blob) {
  if (!blob) return "";
  const bytes = new Uint8Array(await blob.arrayBuffer());
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

// Live mode: one WebSocket per page, bridged by the web app to one ClassifyStream RPC.
// Reconnects by itself; `onMessage` gets every answer (or error) as parsed JSON.
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
    socket.addEventListener("close", () => {
      if (this.socket === socket) { this.socket = null; this.onClosed?.(); }
    });
  }
}
