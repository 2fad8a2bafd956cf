// A BlurHash decoder (https://blurha.sh, the algorithm by Wolt): a few
// cosine components, base-83 encoded, become a small image drawn while the
// real one loads.

const CHARS = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~';
const VALUE = new Map(Array.from(CHARS, (c, i) => [c, i]));

function decode83(s, from, to) {
  let v = 0;
  for (let i = from; i < to; i++) {
    const d = VALUE.get(s[i]);
    if (d === undefined) throw new Error('blurhash: invalid character');
    v = v * 83 + d;
  }
  return v;
}

function sRGBToLinear(v) {
  const x = v / 255;
  return x <= 0.04045 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4;
}

function linearToSRGB(v) {
  const x = Math.max(0, Math.min(1, v));
  return x <= 0.0031308 ? Math.round(x * 12.92 * 255 + 0.5) : Math.round((1.055 * x ** (1 / 2.4) - 0.055) * 255 + 0.5);
}

function signPow(v, e) {
  return Math.sign(v) * Math.abs(v) ** e;
}

/** components returns [x, y] component counts, or null if hash is malformed. */
export function components(hash) {
  if (typeof hash !== 'string' || hash.length < 6) return null;
  let flag;
  try { flag = decode83(hash, 0, 1); } catch { return null; }
  const nx = (flag % 9) + 1;
  const ny = Math.floor(flag / 9) + 1;
  if (hash.length !== 4 + 2 * nx * ny) return null;
  for (const ch of hash) if (!VALUE.has(ch)) return null;
  return [nx, ny];
}

/** isBlurhash reports whether hash can be decoded. */
export function isBlurhash(hash) {
  return components(hash) !== null;
}

/**
 * decode returns width×height RGBA pixels for hash. punch > 1 strengthens
 * the contrast. It throws on a malformed hash.
 */
export function decode(hash, width, height, punch = 1) {
  const c = components(hash);
  if (!c) throw new Error('blurhash: malformed hash');
  const [nx, ny] = c;
  const maxAC = ((decode83(hash, 1, 2) + 1) / 166) * punch;
  const colors = new Array(nx * ny);
  const dc = decode83(hash, 2, 6);
  colors[0] = [sRGBToLinear(dc >> 16), sRGBToLinear((dc >> 8) & 255), sRGBToLinear(dc & 255)];
  for (let i = 1; i < nx * ny; i++) {
    const v = decode83(hash, 4 + i * 2, 6 + i * 2);
    colors[i] = [
      signPow((Math.floor(v / 361) - 9) / 9, 2) * maxAC,
      signPow(((Math.floor(v / 19) % 19) - 9) / 9, 2) * maxAC,
      signPow(((v % 19) - 9) / 9, 2) * maxAC,
    ];
  }
  const cosX = new Float64Array(width * nx);
  for (let x = 0; x < width; x++) for (let i = 0; i < nx; i++) cosX[x * nx + i] = Math.cos((Math.PI * x * i) / width);
  const cosY = new Float64Array(height * ny);
  for (let y = 0; y < height; y++) for (let j = 0; j < ny; j++) cosY[y * ny + j] = Math.cos((Math.PI * y * j) / height);
  const px = new Uint8ClampedArray(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let r = 0; let g = 0; let b = 0;
      for (let j = 0; j < ny; j++) {
        const cy = cosY[y * ny + j];
        for (let i = 0; i < nx; i++) {
          const basis = cosX[x * nx + i] * cy;
          const col = colors[i + j * nx];
          r += col[0] * basis;
          g += col[1] * basis;
          b += col[2] * basis;
        }
      }
      const o = 4 * (x + y * width);
      px[o] = linearToSRGB(r);
      px[o + 1] = linearToSRGB(g);
      px[o + 2] = linearToSRGB(b);
      px[o + 3] = 255;
    }
  }
  return px;
}

/** averageColor is the hash's DC component as [r, g, b]. */
export function averageColor(hash) {
  if (!components(hash)) return null;
  const dc = decode83(hash, 2, 6);
  return [dc >> 16, (dc >> 8) & 255, dc & 255];
}

/** drawBlurhash paints hash onto a canvas (its width×height); false if malformed. */
export function drawBlurhash(canvas, hash) {
  if (!isBlurhash(hash)) return false;
  const ctx = canvas.getContext('2d');
  if (!ctx) return false;
  const img = ctx.createImageData(canvas.width, canvas.height);
  img.data.set(decode(hash, canvas.width, canvas.height));
  ctx.putImageData(img, 0, 0);
  return true;
}
