// The researcher's summary of a study: the admin token (kept for this tab only), the figures, a
// slope chart of each participant's agreement before and after, and the exports.
import { getStudyAdmin } from "./api.js";
import { PLOT, agreementY, slopeLines } from "./study_plots.js";
import { simulationRows } from "./study_simulation.js";

const studyId = document.body.dataset.study;
const $ = (selector) => document.querySelector(selector);
const SVG = "http://www.w3.org/2000/svg";

const admin = (path) => getStudyAdmin(studyId, path, sessionStorage.getItem("maskscope-admin-token") || "");

const percent = (v) => (v == null ? "–" : `${(v * 100).toFixed(0)}%`);
const number = (v) => (v == null ? "–" : v.toFixed(2));

function svgElement(name, attributes, text) {
  const element = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, String(value));
  if (text != null) element.textContent = text;
  return element;
}

function drawSlopes(svg, participants) {
  svg.setAttribute("viewBox", `0 0 ${PLOT.width} ${PLOT.height}`);
  svg.replaceChildren();
  for (const [value, label] of [[1, "1"], [0, "0"], [-1, "−1"]]) {
    const y = agreementY(value);
    svg.append(svgElement("line", { x1: PLOT.pad, x2: PLOT.width - PLOT.pad, y1: y, y2: y, class: "grid" }),
      svgElement("text", { x: 4, y: y + 4 }, label));
  }
  svg.append(svgElement("text", { x: PLOT.pad, y: PLOT.height - 6 }, "before"),
    svgElement("text", { x: PLOT.width - PLOT.pad - 30, y: PLOT.height - 6 }, "after"));
  for (const line of slopeLines(participants)) {
    const path = svgElement("line", { x1: line.x1, y1: line.y1, x2: line.x2, y2: line.y2,
      class: line.up ? "slope up" : "slope down" });
    path.append(svgElement("title", {}, line.id));
    svg.append(path);
  }
}

async function show(faithfulness = false) {
  $("#error").hidden = true;
  if (faithfulness) $("#faithfulness").textContent = "Hiding each map's cells in its order, classifying after each part…";
  try {
    const summary = await (await admin(faithfulness ? "summary.json?faithfulness=1" : "summary.json")).json();
    const o = summary.overall;
    // Before and after over the same people: those who painted both maps (paired).
    const p = o.paired_means;
    // A sentence for what the study asked: maps, predictions (a study may ask for one or both).
    const people = (n) => `${n} participant${n === 1 ? "" : "s"}`;
    $("#overall").textContent = [
      `${people(o.participants)} (${o.finished} finished).`,
      o.paired ? `Of the ${o.paired} with both maps, agreement with the model's map: before `
        + `${number(p.before_agreement)}, after ${number(p.after_agreement)}; ${o.moved_toward_the_model} of `
        + `${o.paired} moved toward the model.` : "",
      o.after_iou != null || o.before_iou != null ? `Shared Interest with the model's region (all maps): IoU before `
        + `${number(o.before_iou)}, after ${number(o.after_iou)}; the share of theirs the model's covers before `
        + `${percent(o.before_ground_truth_coverage)}, after ${percent(o.after_ground_truth_coverage)}; of the `
        + `model's they cover before ${percent(o.before_saliency_coverage)}, after `
        + `${percent(o.after_saliency_coverage)}.` : "",
      o.paired_correct ? `Of the ${o.paired_correct} with both predictions, expected class right: before `
        + `${percent(p.before_correct)}, after ${percent(p.after_correct)}.` : "",
      `Time on task: ${o.seconds ?? "–"} s.`].filter(Boolean).join(" ");
    drawSlopes($("#slopes"), summary.participants);
    $("#rows").replaceChildren(...summary.participants.map((p) => {
      const row = document.createElement("tr");
      for (const value of [p.participant_id.slice(0, 8), number(p.before_agreement), number(p.after_agreement),
        percent(p.before_correct), percent(p.after_correct), p.seconds, p.finished ? "yes" : "no",
        number(p.before_deletion_area), number(p.after_deletion_area)]) {
        row.append(Object.assign(document.createElement("td"), { textContent: String(value) }));
      }
      return row;
    }));
    $("#simulation-rows").replaceChildren(...simulationRows(summary.simulation).map((cells) => {
      const row = document.createElement("tr");
      for (const value of cells) row.append(Object.assign(document.createElement("td"), { textContent: value }));
      return row;
    }));
    if (faithfulness) {
      const model = Object.entries(summary.model).map(([photo, m]) => `${photo} ${number(m.deletion_area)}`);
      $("#faithfulness").textContent = `Deletion areas (${summary.fill} fill; lower: the map found what the model `
        + `needs sooner). The model's own maps: ${model.join(", ")}.`;
    }
    $("#summary").hidden = false;
  } catch (error) {
    $("#error").textContent = error.message;
    $("#error").hidden = false;
  }
}

async function download(name) {
  const blob = await (await admin(name)).blob();
  const link = Object.assign(document.createElement("a"), { href: URL.createObjectURL(blob), download: `${studyId}-${name}` });
  link.click();
  URL.revokeObjectURL(link.href);
}

$("#token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem("maskscope-admin-token", $("#token").value);
  show();
});
document.addEventListener("click", (event) => {
  if (event.target.closest("[data-action=faithfulness]")) { show(true); return; }
  const button = event.target.closest("[data-download]");
  if (button) download(button.dataset.download).catch((error) => { $("#error").textContent = error.message; $("#error").hidden = false; });
});
if (sessionStorage.getItem("maskscope-admin-token")) show();
