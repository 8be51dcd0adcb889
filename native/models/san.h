// SAN (Dai et al. 2019) as in the SAN reference code, returning FAKD's feature taps with the output.
#pragma once
#include <torch/torch.h>

#include "api/model.h"
#include "models/blocks.h"
#include "models/module_model.h"
#include "models/san_attention.h"

namespace kds {

// The hyper-parameters, read from a complete ModelSpec (lib/models/san.ts owns defaults and checks).
struct SanOptions {
  int scale;
  int nResgroups;
  int nResblocks;  // residual blocks per group
  int nFeats;
  int reduction;
  int nonLocalChannels;            // inner channels of the non-local block
  double rgbRange;
  std::vector<int> featureGroups;  // residual groups (1-based counts) after which a feature is tapped
};

// SAN's plain residual block: conv -> ReLU -> conv (conv_first.0, conv_first.2), plus the input.
class SanResBlockImpl : public torch::nn::Module {
 public:
  explicit SanResBlockImpl(int64_t nFeats);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  torch::nn::Sequential convFirst_{nullptr};
};
TORCH_MODULE(SanResBlock);

// Local-source residual attention group (LSRAG): blocks rcab.{b}, then soca, then conv_last, plus the group's
// input. Its `gamma` is stored in checkpoints but, as in the reference, unused.
class LsragImpl : public torch::nn::Module {
 public:
  LsragImpl(int64_t nFeats, int64_t reduction, int nResblocks);
  torch::Tensor forward(const torch::Tensor& x);
  int64_t multiplyAdds(int64_t h, int64_t w) const;

 private:
  torch::nn::ModuleList blocks_{nullptr};
  SecondOrderChannelAttention soca_{nullptr};
  torch::nn::Conv2d convLast_{nullptr};
  torch::Tensor gamma_;
};
TORCH_MODULE(Lsrag);

// Parameter names: sub_mean, head.0, non_local.{soca,non_local}.*, RG.{g}.*, gamma, conv_last, tail.0.*,
// tail.1, add_mean: the SAN reference's state-dict keys. The top-level conv_last is built and stored but, as
// in the reference, unused.
class SanImpl : public torch::nn::Module {
 public:
  explicit SanImpl(const SanOptions& options);
  // head -> region non-local -> groups (each adds gamma * the non-local output: the share-source skip) ->
  // the same region non-local -> + head output -> tail. Features: [head output, the outputs of the groups in
  // featureGroups (FAKD's 7 and 14 of 20, 2 and 4 of 6, by default),
  // the final non-local output (before the skip, as in the FAKD reference)].
  SrOutput forward(const torch::Tensor& x);
  const SanOptions& options() const { return options_; }
  int64_t multiplyAdds(int64_t h, int64_t w);
  std::vector<std::vector<int64_t>> featureShapes(int64_t h, int64_t w) const;

 private:
  SanOptions options_;
  torch::nn::Conv2d subMean_{nullptr}, addMean_{nullptr}, convLast_{nullptr};
  torch::nn::Sequential head_{nullptr}, tail_{nullptr};
  torch::nn::ModuleList groups_{nullptr};
  RegionNonLocal nonLocal_{nullptr};
  torch::Tensor gamma_;
};
TORCH_MODULE(San);

class SanModel final : public ModuleModel<San> {
 public:
  explicit SanModel(const SanOptions& options) : ModuleModel(San(options)) {}
  std::string kind() const override { return "san"; }
};

}  // namespace kds
