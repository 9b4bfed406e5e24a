use std::time::Instant;
#[repr(align(64))] #[derive(Clone,Copy)] struct L([f32;16]);
#[inline(never)] #[target_feature(enable="avx512f")]
unsafe fn run(slab:&[L], idx:&[u32], w:&[f32], reps:usize, nacc:usize)->f32{
    let mut a=[[0f32;16];8];
    for _ in 0..reps {
        for (p,&c) in idx.iter().enumerate(){
            let wv=w[p]; let base=c as usize*8;
            for j in 0..8 { for l in 0..16 { a[j][l]=wv.mul_add(slab[base+j].0[l],a[j][l]); } }
        }
    }
    let _=nacc; a.iter().flatten().sum()
}
#[inline(never)] #[target_feature(enable="avx512f")]
unsafe fn run_reg(reps:usize)->f32{
    // FMAs with register operands only: 8 chains x 2 independent x values
    let mut a=[[0f32;16];8]; let x=[[1.0001f32;16];2];
    for r in 0..reps*1000 { let w=(r as f32)*1e-9; for j in 0..8 { for l in 0..16 { a[j][l]=w.mul_add(x[j&1][l],a[j][l]); } } }
    a.iter().flatten().sum()
}
fn cpu()->f64{ std::fs::read_to_string("/proc/thread-self/schedstat").unwrap().split_whitespace().next().unwrap().parse::<f64>().unwrap()*1e-9 }
fn main(){
    for rows in [16usize,32,64,128,256,512]{
        let slab=vec![L([1.0;16]); rows*8];
        let idx:Vec<u32>=(0..4096u32).map(|i| (i.wrapping_mul(2654435761)>>7)%rows as u32).collect();
        let w=vec![1e-6f32;4096];
        let reps=2000;
        let t=cpu(); let s=unsafe{run(&slab,&idx,&w,reps,8)}; let e=cpu()-t;
        let fmas=(reps*4096*8) as f64;
        println!("slab {rows} rows ({} KB): {:.2} ns/zmm-FMA, {:.1} GFLOP/s  ({s})", rows*8*64/1024, e/fmas*1e9, fmas*32.0/e/1e9);
    }
    let t=Instant::now(); let s=unsafe{run_reg(200)}; let e=t.elapsed().as_secs_f64();
    let fmas=(200*1000*8) as f64;
    println!("register-only: {:.3} ns/zmm-FMA, {:.1} GFLOP/s ({s})", e/fmas*1e9, fmas*32.0/e/1e9);
}
