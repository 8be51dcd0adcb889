#include "models/san.h"

#include "api/error.h"

namespace kds {
namespace {

constexpr int64_t kNonLocalSocaReduction = 8;  // the reference's Nonlocal_CA(reduction=8)

void validate(SanOptions& o) {
  auto fail = [](const std::string& m) { throw Error(ErrorCode::Argument, "san: " + m); };
  if (o.scale != 2 && o.scale != 3 && o.scale != 4 && o.scale != 8) fail("scale must be 2, 3, 4 or 8, got " + std::to_string(o.scale));
  if (o.nResgroups < 1) fail("nResgroups must be >= 1, got " + std::to_string(o.nResgroups));
  if (o.nResblocks < 1) fail("nResblocks must be >= 1, got " + std::to_string(o.nResblocks));
  if (o.nFeats < kNonLocalSocaReduction) fail("nFeats must be >= 8, got " + std::to_string(o.nFeats));
  if (o.reduction < 1 || o.reduction > o.nFeats)
    fail("reduction must be between 1 and nFeats (" + std::to_string(o.nFeats) + "), got " + std::to_string(o.reduction));
  if (o.nonLocalChannels == 0) o.nonLocalChannels = o.nFeats / 8;
  if (o.nonLocalChannels < 1 || o.nonLocalChannels > o.nFeats)
    fail("nonLocalChannels must be between 1 and nFeats (" + std::to_string(o.nFeats) + "), got " + std::to_string(o.nonLocalChannels));
  if (!(o.rgbRange > 0)) fail("rgbRange must be > 0, got " + std::to_string(o.rgbRange));
  if (o.featureGroups.empty()) o.featureGroups = defaultSanFeatureGroups(o.nResgroups);
  for (size_t i = 0; i < o.featureGroups.size(); ++i) {
    const int g = o.featureGroups[i];
    if (g < 1 || g > o.nResgroups) fail("featureGroups entries must be between 1 and nResgroups (" + std::to_string(o.nResgroups) + "), got " + std::to_string(g));
    if (i > 0 && g < o.featureGroups[i - 1]) fail("featureGroups must be in increasing order");
  }
}

}  // namespace

std::vector<int> defaultSanFeatureGroups(int n) { return {(n + 2) / 3, (2 * n + 2) / 3}; }

SanResBlockImpl::SanResBlockImpl(int64_t nFeats) {
  convFirst_ = register_module("conv_first", torch::nn::Sequential(defaultConv(nFeats, nFeats, 3), torch::nn::ReLU(), defaultConv(nFeats, nFeats, 3)));
}

torch::Tensor SanResBlockImpl::forward(const torch::Tensor& x) { return convFirst_->forward(x) + x; }

LsragImpl::LsragImpl(int64_t nFeats, int64_t reduction, int nResblocks) {
  blocks_ = register_module("rcab", torch::nn::ModuleList());
  for (int b = 0; b < nResblocks; ++b) blocks_->push_back(SanResBlock(nFeats));
  soca_ = register_module("soca", SecondOrderChannelAttention(nFeats, reduction));
  convLast_ = register_module("conv_last", defaultConv(nFeats, nFeats, 3));
  gamma_ = register_parameter("gamma", torch::zeros({1}));
}

torch::Tensor LsragImpl::forward(const torch::Tensor& input) {
  auto x = input;
  for (size_t b = 0; b < blocks_->size(); ++b) x = blocks_->ptr<SanResBlockImpl>(b)->forward(x);
  return convLast_->forward(soca_->forward(x)) + input;
}

int64_t LsragImpl::multiplyAdds(int64_t h, int64_t w) const {
  return (convWeights(*blocks_) + convWeights(*convLast_)) * h * w + soca_->multiplyAdds(h, w);
}

SanImpl::SanImpl(const SanOptions& options) : options_(options) {
  validate(options_);
  const int64_t f = options_.nFeats;
  subMean_ = register_module("sub_mean", meanShift(options_.rgbRange, -1));
  head_ = register_module("head", torch::nn::Sequential(defaultConv(3, f, 3)));
  gamma_ = register_parameter("gamma", torch::zeros({1}));
  groups_ = register_module("RG", torch::nn::ModuleList());
  for (int g = 0; g < options_.nResgroups; ++g) groups_->push_back(Lsrag(f, options_.reduction, options_.nResblocks));
  convLast_ = register_module("conv_last", defaultConv(f, f, 3));
  tail_ = register_module("tail", torch::nn::Sequential(Upsampler(options_.scale, f), defaultConv(f, 3, 3)));
  addMean_ = register_module("add_mean", meanShift(options_.rgbRange, +1));
  nonLocal_ = register_module("non_local", RegionNonLocal(f, options_.nonLocalChannels, kNonLocalSocaReduction));
}

SrOutput SanImpl::forward(const torch::Tensor& input) {
  SrOutput out;
  auto x = head_->forward(subMean_->forward(input));
  out.features.push_back(x);
  auto shared = nonLocal_->forward(x);  // the share-source skip
  auto res = shared;
  size_t nextTap = 0;
  for (int g = 0; g < options_.nResgroups; ++g) {
    res = groups_->ptr<LsragImpl>(g)->forward(res) + gamma_ * shared;
    while (nextTap < options_.featureGroups.size() && options_.featureGroups[nextTap] == g + 1) out.features.push_back(res), ++nextTap;
  }
  res = nonLocal_->forward(res);
  out.features.push_back(res);
  out.output = addMean_->forward(tail_->forward(res + x));
  return out;
}

int64_t SanImpl::multiplyAdds(int64_t h, int64_t w) {
  const int64_t s = options_.scale;
  auto& upsampler = *tail_->ptr<UpsamplerImpl>(0);
  int64_t macs = (convWeights(*subMean_) + convWeights(*head_)) * h * w + 2 * nonLocal_->multiplyAdds(h, w);
  for (size_t g = 0; g < groups_->size(); ++g) macs += groups_->ptr<LsragImpl>(g)->multiplyAdds(h, w);
  const int64_t hrWeights = convWeights(*tail_) - convWeights(upsampler) + convWeights(*addMean_);
  return macs + upsamplerMacs(upsampler, h, w) + hrWeights * s * h * s * w;
}

std::vector<std::vector<int64_t>> SanImpl::featureShapes(int64_t h, int64_t w) const {
  return std::vector<std::vector<int64_t>>(options_.featureGroups.size() + 2, {options_.nFeats, h, w});
}

ModelPtr createSan(const SanOptions& options) { return std::make_shared<SanModel>(options); }

}  // namespace kds
