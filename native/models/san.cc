#include "models/san.h"

#include "api/error.h"
#include "models/spec_reader.h"

namespace kds {
namespace {

constexpr int64_t kNonLocalSocaReduction = 8;  // the reference's Nonlocal_CA(reduction=8)

}  // namespace

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

ModelPtr createSan(const ModelSpec& spec) {
  SpecReader read(spec);
  SanOptions options;
  options.scale = read.scale();
  options.nResgroups = read.integer("nResgroups");
  options.nResblocks = read.integer("nResblocks");
  options.nFeats = read.integer("nFeats", static_cast<int>(kNonLocalSocaReduction));
  options.reduction = read.integer("reduction");
  options.nonLocalChannels = read.integer("nonLocalChannels");
  if (options.reduction > options.nFeats || options.nonLocalChannels > options.nFeats)
    throw Error(ErrorCode::Argument, "san: reduction and nonLocalChannels must not exceed nFeats");
  options.rgbRange = read.positive("rgbRange");
  options.featureGroups = read.groups("featureGroups", options.nResgroups);
  read.finish();
  return std::make_shared<SanModel>(options);
}

}  // namespace kds
