// The one place lib/ calls require(): modules kds loads on first use, not at `import`. sharp and the native
// addon cost start-up time that `kds --help` should not pay, onnxruntime-node is optional (missing is an error
// only where it is used), and KDS_ADDON_PATH / scripts/*.js are paths known only at run time.

/** `require(id)`, typed by the caller; `id` is a package name or an absolute path. */
export function lazyRequire<T>(id: string): T {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- a load on first use (see above), which a static import cannot express
  return require(id) as T;
}
