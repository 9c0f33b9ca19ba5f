// How long a grid barrier's poll takes under PoCL: one work-group (64 items, item 0 polling) spins on a volatile
// flag that nobody sets until SPIN_LIMIT polls have passed, as grid.cl's waiter does. Built and run here:
//   gcc -O2 spin-poll.c -o spin-poll -lOpenCL && ./spin-poll 67108864 && ./spin-poll 1073741824   (output: spin-poll.txt)
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static const char* src =
"__kernel void spin(volatile __global int* flag, volatile __global int* err, __global long* out) {\n"
"  if (get_local_id(0) == 0) { long s = 0; while (*flag == 0) { if (++s > SPIN_LIMIT || (((s & 1023) == 0) && *err != 0)) break; } out[get_group_id(0)] = s; }\n"
"  barrier(CLK_GLOBAL_MEM_FENCE);\n}\n";
int main(int argc, char** argv) {
  cl_platform_id p; cl_device_id d; clGetPlatformIDs(1, &p, NULL); clGetDeviceIDs(p, CL_DEVICE_TYPE_ALL, 1, &d, NULL);
  cl_context c = clCreateContext(NULL, 1, &d, NULL, NULL, NULL); cl_command_queue q = clCreateCommandQueue(c, d, 0, NULL);
  cl_program pr = clCreateProgramWithSource(c, 1, &src, NULL, NULL);
  char opt[100]; snprintf(opt, 100, "-DSPIN_LIMIT=%sL", argv[1]);
  if (clBuildProgram(pr, 1, &d, opt, NULL, NULL)) { puts("build failed"); return 1; }
  cl_kernel k = clCreateKernel(pr, "spin", NULL); int z[2] = {0}; long o[2];
  cl_mem f = clCreateBuffer(c, CL_MEM_COPY_HOST_PTR, 8, z, NULL), out = clCreateBuffer(c, 0, 16, NULL, NULL);
  clSetKernelArg(k, 0, sizeof f, &f); clSetKernelArg(k, 1, sizeof f, &f); clSetKernelArg(k, 2, sizeof out, &out);
  size_t g = 64, l = 64;
  for (int rep = 0; rep < 3; rep++) {
  struct timespec a, b; clock_gettime(CLOCK_MONOTONIC, &a);
  clEnqueueNDRangeKernel(q, k, 1, NULL, &g, &l, 0, NULL, NULL); clEnqueueReadBuffer(q, out, CL_TRUE, 0, 8, o, 0, NULL, NULL);
  clock_gettime(CLOCK_MONOTONIC, &b);
  double s = (b.tv_sec - a.tv_sec) + 1e-9 * (b.tv_nsec - a.tv_nsec);
  printf("limit %s: %ld polls in %.3f s = %.2f ns/poll\n", argv[1], o[0], s, 1e9 * s / o[0]); }
  return 0;
}
