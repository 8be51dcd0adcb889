# Exports a TorchScript super-resolution model to ONNX with torch.onnx (the TorchScript-based exporter,
# which reads scripted modules). Called by kds's model.exportOnnx (lib/export/torchscript.ts):
#   python3 torchscript-to-onnx.py IN.pt OUT.onnx '{"opset": 17, "fp16": false, "features": true, "size": null}'
# Exit codes: 3 torch missing, 4 onnx missing (kds turns them into a KDSError saying how to get them).
import json
import sys

try:
    import torch
except ImportError as e:
    print(f"python3 cannot import torch: {e}", file=sys.stderr)
    sys.exit(3)
try:
    import onnx  # noqa: F401  (torch.onnx needs it to write the file)
except ImportError as e:
    print(f"python3 cannot import onnx: {e}", file=sys.stderr)
    sys.exit(4)


class OutputOnly(torch.nn.Module):
    """The model's SR output only (its feature maps are for training), float32 in and out."""

    def __init__(self, model, half: bool):
        super().__init__()
        self.model = model
        self.use_half = half

    def forward(self, x):
        if self.use_half:
            x = x.half()
        return self.model(x)[1].float()


class PlainOutput(OutputOnly):
    def forward(self, x):
        if self.use_half:
            x = x.half()
        return self.model(x).float()


def main():
    source, target, settings = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    model = torch.jit.load(source, map_location="cpu").eval()
    if settings["fp16"]:
        model = model.half()
    wrapper = torch.jit.script((OutputOnly if settings["features"] else PlainOutput)(model, settings["fp16"]))
    size = settings["size"]
    example = torch.rand(1, 3, size["height"], size["width"]) * 255 if size else torch.rand(1, 3, 16, 16) * 255
    dynamic = None if size else {"input": {0: "batch", 2: "height", 3: "width"}, "output": {0: "batch", 2: "out_height", 3: "out_width"}}
    with torch.no_grad():
        torch.onnx.export(wrapper, (example,), target, dynamo=False, opset_version=settings["opset"],
                          input_names=["input"], output_names=["output"], dynamic_axes=dynamic)


if __name__ == "__main__":
    main()
