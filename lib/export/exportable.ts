// What the exporters need of a model and of the options, as a leaf module: export/ never imports models.ts
// (which offers model.exportOnnx), so the two cannot form an import cycle.
import type { NativeModel } from '../native';
import type { ModelSpec } from '../models/registry';

/** The parts of a kds Model the exporters read. */
export interface ExportableModel {
  readonly spec: Readonly<ModelSpec> | null;
  readonly hasFeatures: boolean;
  /** @internal */
  readonly native: NativeModel;
  save(path: string): Promise<void>;
}

/** Checked exportOnnx options. */
export interface ExportSettings {
  opset: number;
  fp16: boolean;
  /** null: dynamic [N, 3, H, W]; otherwise the fixed input size (batch 1). */
  size: { height: number; width: number } | null;
}
