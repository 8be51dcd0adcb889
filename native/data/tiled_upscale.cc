// Whole images through a model in tiles. Each tile is run with `overlap` extra input pixels on every
// side (fewer at the image border) and only its core is kept, so no output pixel is an average of two
// tiles: where the model's receptive field fits in the overlap, the result is the untiled one.
#include <algorithm>

#include "api/data.h"
#include "core/runtime.h"
#include "core/torch_tensor.h"
#include "data/image_tensor.h"
#include "models/torch_model.h"

namespace kds {
namespace {

struct Span {
  int64_t core0, core1;    // the input rows (or columns) whose output this tile provides
  int64_t input0, input1;  // the rows the tile reads: the core widened by the overlap
};

std::vector<Span> spans(int64_t length, int64_t tile, int64_t overlap) {
  std::vector<Span> out;
  for (int64_t start = 0; start < length; start += tile) {
    const int64_t end = std::min(length, start + tile);
    out.push_back({start, end, std::max<int64_t>(0, start - overlap), std::min(length, end + overlap)});
  }
  return out;
}

}  // namespace

TensorPtr upscaleTiled(Model& model, const Tensor& input, int64_t tile, int64_t overlap) {
  applyThreadSettings();
  if (overlap < 0) throw Error(ErrorCode::Argument, "upscale: overlap must be >= 0, got " + std::to_string(overlap));
  auto& torchModel = asTorchModel(model);
  const auto x = imageBatch(unwrap(input), "upscale: input");
  if (!x.is_floating_point()) throw Error(ErrorCode::Argument, "upscale: input must be a float image");
  const int64_t height = x.size(2), width = x.size(3);
  if (tile <= 0) tile = std::max(height, width);
  // One model user at a time, and the same weights for every tile.
  std::lock_guard<std::mutex> lock(torchModel.mutex());
  torch::InferenceMode inference;
  return translateTorchErrors(ErrorCode::Shape, model.kind() + " forward failed during upscale", [&] {
    torch::Tensor out;
    int64_t scale = 0;
    for (const auto& rows : spans(height, tile, overlap)) {
      for (const auto& cols : spans(width, tile, overlap)) {
        auto piece = x.narrow(2, rows.input0, rows.input1 - rows.input0).narrow(3, cols.input0, cols.input1 - cols.input0);
        auto sr = torchModel.run(piece.to(torchModel.torchDevice(), torch::kFloat32)).output;
        if (!out.defined()) {
          const int64_t inH = piece.size(2), inW = piece.size(3);
          if (sr.dim() != 4 || sr.size(0) != x.size(0) || sr.size(1) != 3 || sr.size(2) % inH != 0 || sr.size(2) / inH != sr.size(3) / inW ||
              sr.size(3) % inW != 0 || sr.size(2) / inH < 1)
            throw Error(ErrorCode::Shape, "upscale: the model turned input " + shapeToString(piece.sizes().vec()) + " into " +
                                              shapeToString(sr.sizes().vec()) + "; expected [n, 3, s*h, s*w] for an integer scale s");
          scale = sr.size(2) / inH;
          out = torch::empty({x.size(0), 3, height * scale, width * scale}, torch::kFloat32);
        } else if (sr.size(2) != piece.size(2) * scale || sr.size(3) != piece.size(3) * scale) {
          throw Error(ErrorCode::Shape, "upscale: the model's scale changed between tiles");
        }
        auto core = sr.narrow(2, (rows.core0 - rows.input0) * scale, (rows.core1 - rows.core0) * scale)
                        .narrow(3, (cols.core0 - cols.input0) * scale, (cols.core1 - cols.core0) * scale);
        out.narrow(2, rows.core0 * scale, (rows.core1 - rows.core0) * scale)
            .narrow(3, cols.core0 * scale, (cols.core1 - cols.core0) * scale)
            .copy_(core);
      }
    }
    return wrap(out);
  });
}

}  // namespace kds
