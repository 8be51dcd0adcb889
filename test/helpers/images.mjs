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

