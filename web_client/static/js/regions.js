// A photo's regions (superpixels, from the service's Segments): which region a point is in, a
// region's pixels as a mask, their outlines, how much of one is painted. Pure (tested in Node).
// `labels`: a Uint8Array of width x height region numbers.

export function labelsFromRgba(rgba) {
  const labels = new Uint8Array(rgba.length / 4);
  for (let i = 0; i < labels.length; i++) labels[i] = rgba[i * 4]; // a greyscale PNG: red = grey
  return labels;
}

export function regionAt(labels, width, height, x, y) {
  const px = Math.floor(x), py = Math.floor(y);
  if (px < 0 || py < 0 || px >= width || py >= height) return -1;
  return labels[py * width + px];
}

// RGBA pixels, opaque where the region is (in the paint colour), clear elsewhere.
export function regionPixels(labels, region, [r, g, b]) {
  const rgba = new Uint8ClampedArray(labels.length * 4);
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] !== region) continue;
    rgba[i * 4] = r; rgba[i * 4 + 1] = g; rgba[i * 4 + 2] = b; rgba[i * 4 + 3] = 255;
  }
  return rgba;
}

// RGBA pixels of every region's outline (a pixel whose right or lower neighbour is in another region).
export function outlinePixels(labels, width, height) {
  const rgba = new Uint8ClampedArray(labels.length * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      const edge = (x + 1 < width && labels[i + 1] !== labels[i]) || (y + 1 < height && labels[i + width] !== labels[i]);
      if (edge) { rgba[i * 4] = rgba[i * 4 + 1] = rgba[i * 4 + 2] = 255; rgba[i * 4 + 3] = 200; }
    }
  }
  return rgba;
}

// The fraction of a region's pixels that the mask (RGBA, alpha > 0 where painted) hides.
export function paintedFraction(labels, maskRgba, region) {
  let inside = 0, painted = 0;
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] !== region) continue;
    inside += 1;
    if (maskRgba[i * 4 + 3] > 0) painted += 1;
  }
  return inside ? painted / inside : 0;
}
