// Deterministic test images without a fixture: a small LCG, so runs are repeatable.

/** { data, shape } with values in [0, 255), the same for the same seed. */
export function randomImage(shape, seed = 1) {
  const numel = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(numel);
  let state = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < numel; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    data[i] = (state / 2 ** 32) * 255;
  }
  return { data, shape };
}

/** The image with every pixel multiplied by s in both directions (nearest neighbour): a matching HR. */
export function upscaleNearest(image, s) {
  const [n, c, h, w] = image.shape;
  const data = new Float32Array(n * c * h * s * w * s);
  let k = 0;
  for (let b = 0; b < n * c; b++)
    for (let y = 0; y < h * s; y++)
      for (let x = 0; x < w * s; x++) data[k++] = image.data[(b * h + Math.floor(y / s)) * w + Math.floor(x / s)];
  return { data, shape: [n, c, h * s, w * s] };
}
