// Best-of-N timings of the C kernels (CKernels) on the shapes the reference models use, to compare
// two builds of the same sources, e.g. SwiftPM's -O2 against -O3:
//   S=$PWD/Sources/CKernels T=$PWD/tools/kernel_bench.c
//   for o in O2 O3; do mkdir -p /tmp/kb/$o && (cd /tmp/kb/$o && clang -$o -fPIC -I$S/include -c $S/*.c &&
//     clang -O2 -I$S/include $T *.o -o kb -lpthread -lm); done
// then run /tmp/kb/O2/kb and /tmp/kb/O3/kb alternately, several times, and keep each line's best.
#include "ckernels.h"
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
static float *buf(size_t n){float*p=aligned_alloc(64,((n*4+63)/64)*64);for(size_t i=0;i<n;i++)p[i]=(float)((i*2654435761u)%1000)/1000.f-0.5f;return p;}
#define BEST(name, reps, body) { double best=1e9; for(int r=0;r<reps;r++){double t0=now(); body; double t=now()-t0; if(t<best)best=t;} printf("%-22s %9.1f us\n", name, best*1e6); }
int main(int argc,char**argv){
  int rows=16, C=32, H=48, W=48;
  size_t tiles=ae_wino_tiles(H,W), ts=rows*tiles;
  float *x=buf((size_t)rows*C*H*W), *v=buf(36*C*ts), *m=buf(36*C*ts), *y=buf((size_t)rows*C*H*W), *dx=buf((size_t)rows*C*H*W);
  float *scratch=buf(ae_wino_scratch(rows,C,H,W)*2+1000000), *bias=buf(C), *db=buf(C), *w=buf(C*C*9), *u=buf(36*C*C), *dw=buf(C*C*9);
  int ny=(H+3)/4;
  for (int rep=0; rep<3; rep++) {
  BEST("wino_input 48x48x32", 50, ae_wino_input(x,(size_t)C*H*W,rows,C,H,W,0,ny,v,ts,0,scratch));
  BEST("wino_output", 50, ae_wino_output(m,ts,0,rows,C,H,W,0,ny,bias,1,y,(size_t)C*H*W,scratch));
  BEST("wino_output_grad", 50, ae_wino_output_grad(y,(size_t)C*H*W,x,(size_t)C*H*W,rows,C,H,W,0,ny,m,ts,0,db,scratch));
  BEST("wino_input_grad", 50, ae_wino_input_grad(v,ts,0,rows,C,H,W,0,ny,dx,(size_t)C*H*W,scratch));
  BEST("wino_weights", 200, ae_wino_weights(w,C,C,u,scratch));
  BEST("wino_weight_grad", 200, ae_wino_weight_grad(u,C,C,dw,scratch));
  int rs=ae_conv3x3_row_stride(28); float *xp=buf(16*(28+2)*rs+64), *x2=buf(16*28*28), *y2=buf(16*28*28), *w2=buf(16*16*9), *dw2=buf(16*16*9), *db2=buf(16);
  BEST("conv3x3_pad 28x28x16", 500, ae_conv3x3_pad(x2,0,xp,16,28,28));
  BEST("conv3x3 28x28 16->16", 500, ae_conv3x3(xp,16,28,28,w2,bias,16,y2,0,1,0));
  BEST("conv3x3_wgrad", 500, ae_conv3x3_weight_grad(xp,16,28,28,y2,0,16,dw2,db2,0));
  float *a=buf(256*784), *b=buf(784*16), *c=buf(256*16);
  BEST("gemm_narrow 256x16x784", 500, ae_gemm_narrow(256,16,784,1.f,a,784,b,16,0.f,c,16));
  float *col=buf(16*9*28*28), *b2=buf(256*64), *c2=buf(256*64);
  BEST("im2col 16x28x28 k3", 500, ae_im2col(x2,col,16,28,28,3,1,1,1,28,28));
  float *p=buf(1<<20), *g=buf(1<<20), *mm=buf(1<<20), *vv=buf(1<<20); for(int i=0;i<1<<20;i++) vv[i]=vv[i]*vv[i];
  BEST("adam 1M", 100, ae_adam_update(p,g,mm,vv,1<<20,.9f,.999f,1e-3f,1.f,1e-8f,0.f,0,1.f,1.f));
  BEST("gemm_nn 256x64x256", 500, ae_gemm_nn(256,64,256,a,256,1,b2,64,c2,64,0));
  }
  return 0;
}
