#include "prompts/kmeans.h"

#include <faiss/Clustering.h>
#include <faiss/IndexFlat.h>

#include <cmath>
#include <string>

#include "core/errors.h"

namespace airtune::prompts {

KMeansResult kmeans(const float* x, int64_t n, int64_t d, int64_t k, int niter, uint64_t seed, int nredo) {
  if (d < 1) throw InvalidArgument("kmeans: dimension must be >= 1");
  if (k < 1 || k > n)
    throw InvalidArgument("kmeans: k must be in [1, n] (k=" + std::to_string(k) + ", n=" + std::to_string(n) + ")");
  if (niter < 1) throw InvalidArgument("kmeans: niter must be >= 1");
  if (nredo < 1) throw InvalidArgument("kmeans: nredo must be >= 1");
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < d; ++j)
      if (!std::isfinite(x[i * d + j]))
        throw InvalidArgument("kmeans: row " + std::to_string(i) + " has a non-finite value");
  faiss::ClusteringParameters cp;
  cp.niter = niter;
  cp.nredo = nredo;
  cp.seed = static_cast<int>(seed & 0x7FFFFFFF);
  cp.max_points_per_centroid = 1 << 30;  // use every point, no subsampling
  cp.min_points_per_centroid = 1;
  cp.verbose = false;
  faiss::Clustering clus(static_cast<int>(d), static_cast<int>(k), cp);
  faiss::IndexFlatL2 index(d);
  clus.train(n, x, index);
  KMeansResult r;
  r.k = k;
  r.d = d;
  r.centroids = clus.centroids;
  faiss::IndexFlatL2 cidx(d);
  cidx.add(k, r.centroids.data());
  std::vector<faiss::Index::idx_t> labels(n);
  r.distance.resize(n);
  cidx.search(n, x, 1, r.distance.data(), labels.data());
  r.assign.assign(labels.begin(), labels.end());
  for (float v : r.distance) r.inertia += v;
  return r;
}

}  // namespace airtune::prompts
