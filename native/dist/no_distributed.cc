// Builds without gloo's headers (KDS_DISTRIBUTED=OFF) have no process group; setDistributed says why.
#include "api/error.h"
#include "dist/process_group.h"

namespace kds::dist {

std::shared_ptr<ProcessGroup> connect(const DistributedOptions&) {
  throw Error(ErrorCode::State,
              "this build has no distributed support: gloo's headers were not found when the addon was built (the build "
              "fetches them with `apt-get download libgloo-dev`; or set KDS_GLOO_INCLUDE to a folder holding gloo/ and rebuild)");
}

bool available() { return false; }

}  // namespace kds::dist
