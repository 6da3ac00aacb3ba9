// Which cblas_sgemm shapes allocate on the heap under the OpenBLAS kernels this process runs
// (OPENBLAS_CORETYPE picks them): every transpose pair, beta 0 and 1, m, n, k from a list of sizes
// up to 200. Prints one line per allocating shape (with --all) and a count per transpose pair.
// Built and run by tools/probe_blas_allocations; the engine's GEMM wrapper routes around what it finds.
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern void *__libc_malloc(size_t);
static long allocations = 0;
static int counting = 0;

void *malloc(size_t size) {
    if (counting) allocations++;
    return __libc_malloc(size);
}

int main(int argc, char **argv) {
    const int all = argc > 1 && strcmp(argv[1], "--all") == 0;
    const int sizes[] = {1, 2, 3, 4, 5, 7, 8, 9, 12, 15, 16, 17, 20, 24, 25, 31, 32, 33, 40, 48, 49, 64, 100, 128, 200};
    const int count = sizeof sizes / sizeof *sizes;
    float *a = calloc(1 << 20, 4), *b = calloc(1 << 20, 4), *c = calloc(1 << 20, 4);
    openblas_set_num_threads(1);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 64, 64, 64, 1, a, 64, b, 64, 0, c, 64);  // warm-up
    printf("kernels: %s\n", openblas_get_corename());
    for (int ta = 0; ta < 2; ta++) {
        for (int tb = 0; tb < 2; tb++) {
            int allocating = 0, total = 0;
            for (int x = 0; x < count; x++)
                for (int y = 0; y < count; y++)
                    for (int z = 0; z < count; z++)
                        for (int beta = 0; beta < 2; beta++) {
                            const int m = sizes[x], n = sizes[y], k = sizes[z];
                            allocations = 0;
                            counting = 1;
                            cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                                        m, n, k, 1.0f, a, ta ? m : k, b, tb ? k : n, (float)beta, c, n);
                            counting = 0;
                            total++;
                            if (allocations) {
                                allocating++;
                                if (all) printf("%s%s m %d n %d k %d beta %d: %ld allocation(s)\n", ta ? "T" : "N",
                                                tb ? "T" : "N", m, n, k, beta, allocations);
                            }
                        }
            printf("%s%s: %d of %d shapes allocate\n", ta ? "A^T" : "A", tb ? " B^T" : " B", allocating, total);
        }
    }
    return 0;
}
