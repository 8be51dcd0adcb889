// RCAN (Zhang et al. 2018) as in the RCAN reference code, returning FAKD's feature taps with the output.
#pragma once
#include <torch/torch.h>

#include "api/model.h"
#include "models/blocks.h"
#include "models/module_model.h"

namespace kds {

// The hyper-parameters, read from a complete ModelSpec (lib/models/rcan.ts owns defaults and checks).
struct RcanOptions {
  int scale;
  int nResgroups;
  int nResblocks;  // RCABs per group
  int nFeats;
  int reduction;
  double resScale;
  double rgbRange;
  std::vector<int> featureGroups;  // residual groups (1-based counts) after which a feature is tapped
};

// RCAN's CALayer: x * sigmoid(conv(relu(conv(avgpool(x))))), the 1x1 convs shrinking the channels by
// `reduction` and back. Its convs are conv_du.0 and conv_du.2.
class ChannelAttentionImpl : public torch::nn::Module {
 public:
  ChannelAttentionImpl(int64_t nFeats, int64_t reduction);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  torch::nn::Sequential convDu_{nullptr};
};
TORCH_MODULE(ChannelAttention);

// Residual channel attention block: conv -> ReLU -> conv -> channel attention (body.0 .. body.3), times
// resScale, plus the input. (The reference ignores res_scale; the default 1 matches it.)
class RcabImpl : public torch::nn::Module {
 public:
  RcabImpl(int64_t nFeats, int64_t reduction, double resScale);
  torch::Tensor forward(const torch::Tensor& x);
  int64_t multiplyAdds(int64_t h, int64_t w) const;

 private:
  torch::nn::Sequential body_{nullptr};
  double resScale_;
};
TORCH_MODULE(Rcab);

// Residual group: nResblocks RCABs then a conv (body.{0..n-1}, body.{n}), plus the group's input.
class ResidualGroupImpl : public torch::nn::Module {
 public:
  ResidualGroupImpl(int64_t nFeats, int64_t reduction, double resScale, int nResblocks);
  torch::Tensor forward(const torch::Tensor& x);
  int64_t multiplyAdds(int64_t h, int64_t w) const;

 private:
  torch::nn::Sequential body_{nullptr};
};
TORCH_MODULE(ResidualGroup);

// Parameter names: sub_mean, head.0, body.{g} (residual groups), body.{nResgroups} (the body's last conv),
// tail.0.{0,2,4} (upsampler convs), tail.1, add_mean: the RCAN reference's state-dict keys.
class RcanImpl : public torch::nn::Module {
 public:
  explicit RcanImpl(const RcanOptions& options);
  // Features: [head output, the outputs of the groups in featureGroups (FAKD's groups 3 and 7 of 10 by
  // default), body output]. As in the FAKD reference code (an in-place add), the
  // last feature is the body's final conv plus the global skip: the input of the tail.
  SrOutput forward(const torch::Tensor& x);
  const RcanOptions& options() const { return options_; }
  int64_t multiplyAdds(int64_t h, int64_t w);
  std::vector<std::vector<int64_t>> featureShapes(int64_t h, int64_t w) const;

 private:
  RcanOptions options_;
  torch::nn::Conv2d subMean_{nullptr}, addMean_{nullptr};
  torch::nn::Sequential head_{nullptr}, tail_{nullptr};
  torch::nn::ModuleList body_{nullptr};
};
TORCH_MODULE(Rcan);

class RcanModel final : public ModuleModel<Rcan> {
 public:
  explicit RcanModel(const RcanOptions& options) : ModuleModel(Rcan(options)) {}
  std::string kind() const override { return "rcan"; }

 protected:
  // FAKD's layout: body_group{g}.* is body.{g}.*, body_tail.* is body.{nResgroups}.*.
  std::string canonicalKey(const std::string& key) const override;
};

}  // namespace kds
