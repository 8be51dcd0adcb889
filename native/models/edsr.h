// EDSR (Lim et al. 2017) as in EDSR-PyTorch, returning FAKD's feature taps with the output.
#pragma once
#include <torch/torch.h>

#include "api/model.h"
#include "models/blocks.h"
#include "models/module_model.h"

namespace kds {

// The hyper-parameters, read from a complete ModelSpec (lib/models/edsr.ts owns defaults and checks).
struct EdsrOptions {
  int scale;
  int nResblocks;
  int nFeats;
  double resScale;
  double rgbRange;
};

// Parameter names: sub_mean, head.0, body.{i}.body.{0,2}, body.{n} (the body's last conv),
// tail.0.{0,2,4} (upsampler convs), tail.1, add_mean.
class EdsrImpl : public torch::nn::Module {
 public:
  explicit EdsrImpl(const EdsrOptions& options);
  // Features: [head output, output of block group 1, group 2, group 3] (an empty group repeats the tap before it). The body's n blocks form three
  // consecutive groups of n/3, 2n/3 - n/3 and n - 2n/3 blocks (integer division), the body's final conv
  // closing group 3; the last feature includes the global skip (the input of the tail), as in the FAKD
  // reference code, whose published numbers were produced that way.
  SrOutput forward(const torch::Tensor& x);
  const EdsrOptions& options() const { return options_; }
  // Conv multiply-adds (mean shifts included) for one h x w input; all four features are [nFeats, h, w].
  int64_t multiplyAdds(int64_t h, int64_t w);
  std::vector<std::vector<int64_t>> featureShapes(int64_t h, int64_t w) const;

 private:
  EdsrOptions options_;
  torch::nn::Conv2d subMean_{nullptr}, addMean_{nullptr};
  torch::nn::Sequential head_{nullptr}, tail_{nullptr};
  torch::nn::ModuleList body_{nullptr};
};
TORCH_MODULE(Edsr);

class EdsrModel final : public ModuleModel<Edsr> {
 public:
  explicit EdsrModel(const EdsrOptions& options) : ModuleModel(Edsr(options)) {}
  std::string kind() const override { return "edsr"; }

 protected:
  // FAKD's layout: body1.{k}, body2.{k}, body3.{k} are the official body.{i} split into the three groups
  // (body3's last item is the body's final conv).
  std::string canonicalKey(const std::string& key) const override;
};

}  // namespace kds
