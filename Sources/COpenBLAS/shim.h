// OpenBLAS's CBLAS interface plus the few OpenBLAS extensions the engine uses
// (thread count, detected core name).
#include <cblas.h>
