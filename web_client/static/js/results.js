// Rendering what the model said: the top-5 with changes against the unpainted photo, and history.

const percent = (p) => `${(p * 100).toFixed(p >= 0.995 || p < 0.1 ? 1 : 0)}%`;

function delta(now, before) {
  const points = Math.round((now - before) * 100);
  if (points === 0) return { text: "±0", cls: "same" };
  return { text: points > 0 ? `+${points}` : `−${Math.abs(points)}`, cls: points > 0 ? "up" : "down" };
}

function row({ label, probability, class_index: classIndex }, baselineP, { original = false } = {}) {
  const li = document.createElement("li");
  li.className = "prediction" + (original ? " original" : "");
  li.dataset.classIndex = String(classIndex);
  li.title = "Click to follow this class through your experiments";
  const name = document.createElement("span");
  name.className = "label";
  name.textContent = label;
  const value = document.createElement("span");
  value.className = "value";
  value.textContent = percent(probability);
  const change = document.createElement("span");
  if (baselineP !== undefined) {
    const d = delta(probability, baselineP);
    change.className = `delta ${d.cls}`;
    change.textContent = `(${d.text})`;
    change.title = `was ${percent(baselineP)} on the unpainted photo`;
  }
  const bar = document.createElement("span");
  bar.className = "bar";
  const fill = document.createElement("span");
  fill.style.width = `${Math.max(0.5, probability * 100)}%`;
  bar.append(fill);
  li.append(name, value, change, bar);
  return li;
}

// `result`: the server's answer; `baseline`: {probabilities: Map(index -> p), top: prediction} or null.
export function renderPredictions(list, originalBox, result, baseline) {
  list.replaceChildren(...result.predictions.map((p) => row(p, baseline?.probabilities.get(p.class_index))));
  originalBox.replaceChildren();
  if (!baseline) return;
  const top = baseline.top;
  if (result.predictions.some((p) => p.class_index === top.class_index)) return;
  const tracked = result.tracked.find((p) => p.class_index === top.class_index);
  if (!tracked) return;
  const heading = document.createElement("p");
  heading.className = "original-heading";
  heading.textContent = "The unpainted photo's top class, now out of the top 5:";
  const ol = document.createElement("ol");
  ol.className = "predictions";
  ol.append(row(tracked, top.probability, { original: true }));
  originalBox.append(heading, ol);
}

// The answer in one line, under the photo: the top class, its confidence and its change since
// the unpainted photo. Returns the same as words, for a screen reader.
export function renderAnswer(box, result, baseline) {
  const top = result.predictions[0];
  const label = document.createElement("span");
  label.className = "answer-label";
  label.textContent = top.label;
  const value = document.createElement("span");
  value.className = "answer-value";
  value.textContent = percent(top.probability);
  const parts = [label, value];
  let words = `${top.label}, ${percent(top.probability)}`;
  const before = baseline?.probabilities.get(top.class_index);
  if (before !== undefined && result.sequence !== baseline.sequence) {
    const d = delta(top.probability, before);
    const change = document.createElement("span");
    change.className = `delta ${d.cls}`;
    change.textContent = `(${d.text})`;
    parts.push(change);
    words += d.cls === "same" ? ", unchanged" : `, ${d.cls} ${d.text.replace(/[+−]/, "")} points`;
  }
  const model = document.createElement("span");
  model.className = "answer-model";
  model.textContent = result.model;
  box.replaceChildren(...parts, model);
  return words;
}

// One history entry: a thumbnail of the mask with its top class; clicking restores it.
export function historyItem({ thumbnail, result, title }, onRestore) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "history-item";
  const top = result.predictions[0];
  button.title = `${title}: ${top.label} ${percent(top.probability)}. Click to restore this mask.`;
  const img = document.createElement("img");
  img.src = thumbnail;
  img.alt = title;
  const caption = document.createElement("span");
  caption.className = "caption";
  caption.textContent = `${top.label} ${percent(top.probability)}`;
  button.append(img, caption);
  button.addEventListener("click", onRestore);
  return button;
}
