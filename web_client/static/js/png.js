// A minimal PNG encoder for 1-bit masks: ~50x smaller to send and ~15x faster for the server to
// decode than the RGBA PNG that canvas.toBlob() makes. Compression is the browser's own (zlib).

const SIGNATURE = new Uint8Array([137, 80, 78, 71, 13, 10, 26, 10]);
const CRC_TABLE = new Uint32Array(256).map((_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c;
});

function crc32(bytes) {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

// `alpha`: RGBA pixels (ImageData.data), painted where alpha > 0. Returns a Blob holding a width x height 1-bit greyscale PNG
// (white where painted), or null when nothing is painted.
export async function oneBitPng(width, height, alpha) {
  const rowBytes = Math.ceil(width / 8);
  const raw = new Uint8Array((rowBytes + 1) * height); // each row: filter byte 0, then the bits
  let any = false;
  for (let y = 0; y < height; y++) {
    const row = y * (rowBytes + 1) + 1;
    const src = y * width * 4 + 3;
    for (let x = 0; x < width; x++) {
      if (alpha[src + x * 4]) {
        raw[row + (x >> 3)] |= 0x80 >> (x & 7);
        any = true;
      }
    }
  }
  if (!any) return null;
  const deflated = new Uint8Array(await new Response(
    new Blob([raw]).stream().pipeThrough(new CompressionStream("deflate"))).arrayBuffer());
  const header = new Uint8Array(13);
  const view = new DataView(header.buffer);
  view.setUint32(0, width);
  view.setUint32(4, height);
  header.set([1, 0, 0, 0, 0], 8); // bit depth 1, greyscale, deflate, no filter, no interlace
  return new Blob([SIGNATURE, chunk("IHDR", header), chunk("IDAT", deflated), chunk("IEND", new Uint8Array())],
    { type: "image/png" });
}
