//! CPU operations as plain forward/backward pairs writing into caller-owned buffers.
//!
//! Layout: activations are row-major `batch x features` (a sample per row); a weight matrix is row-major
//! `out x in`, as in `nn.Linear`. The three products of training are
//!
//! * forward `Y = X W^T` ([`gemm::matmul_nt`]),
//! * input gradient `dX = dY W` ([`gemm::matmul_nn`]),
//! * weight gradient `dW = dY^T X` ([`gemm::matmul_tn`]).

pub mod act;
pub mod gemm;
pub mod loss;
