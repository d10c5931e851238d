// The session as a file (the format maskscope/session.py reads) and downloads.
import { blobToBase64 } from "./api.js";

// `steps`: [{title, mask: Blob|null, result, model, fill, keepPainted}]; `photo`: {blob, name}.
export async function sessionJson({ photo, model, fill, keepPainted, pinned, steps }) {
  return JSON.stringify({
    format: "maskscope-session", version: 1, model, fill, keep_painted: keepPainted, pinned,
    created: new Date().toISOString(),
    image: { name: photo.name, data: await blobToBase64(photo.blob) },
    steps: await Promise.all(steps.map(async (s) => ({
      title: s.title, mask: await blobToBase64(s.mask), predictions: s.result.predictions,
      tracked: s.result.tracked || [], model: s.model, fill: s.fill, keep_painted: s.keepPainted,
    }))),
  });
}

export function download(blob, filename) {
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export const fileStem = (name) => (name.replace(/\.[^.]*$/, "").replace(/[^\w-]+/g, "-").slice(0, 40) || "session");

// The pinned class through the history, as a small SVG line chart.
export function drawChart(svg, values) {
  const ns = "http://www.w3.org/2000/svg";
  const W = 300, H = 90, pad = 14;
  svg.replaceChildren();
  const points = values.map((v, i) => (v == null ? null : [
    pad + (values.length > 1 ? i * (W - 2 * pad) / (values.length - 1) : (W - 2 * pad) / 2), H - pad - v * (H - 2 * pad)]));
  for (const [y, text] of [[H - pad, "0%"], [pad, "100%"]]) {
    const label = document.createElementNS(ns, "text");
    label.setAttribute("x", "2");
    label.setAttribute("y", String(y + 3));
    label.textContent = text;
    svg.append(label);
  }
  const known = points.filter(Boolean);
  if (known.length > 1) {
    const line = document.createElementNS(ns, "polyline");
    line.setAttribute("points", known.map((p) => p.map((c) => c.toFixed(1)).join(",")).join(" "));
    svg.append(line);
  }
  points.forEach((p, i) => {
    if (!p) return;
    const dot = document.createElementNS(ns, "circle");
    dot.setAttribute("cx", p[0].toFixed(1));
    dot.setAttribute("cy", p[1].toFixed(1));
    dot.setAttribute("r", "3");
    const title = document.createElementNS(ns, "title");
    title.textContent = `step ${i}: ${(values[i] * 100).toFixed(1)}%`;
    dot.append(title);
    svg.append(dot);
  });
}
