// The vectorised C optimizer loops agree with the plain Swift reference, for every optimizer
// and option; schedules give the documented factors.

import Engine
import Kernels
import Testing
import TestSupport
import Training

@Suite struct OptimizerTests {
    static let configs: [OptimizerConfig] = {
        var list: [OptimizerConfig] = []
        for kind in OptimizerKind.allCases {
            for decay: Float in [0, 0.01] {
                var c = OptimizerConfig(kind: kind, learningRate: 0.01)
                c.weightDecay = decay
                if kind == .sgd { c.momentum = 0.9; c.nesterov = decay > 0 }
                list.append(c)
            }
        }
        return list
    }()

    @Test(arguments: 0..<configs.count)
    func fastUpdateMatchesReference(index: Int) {
        let config = Self.configs[index]
        let n = 1000
        var rng = SplitMix64(seed: UInt64(index))
        func random() -> [Float] { (0..<n).map { _ in 2 * rng.nextUniform() - 1 } }
        let p0 = random(), g0 = random(), m0 = random(), v0 = random().map { abs($0) }
        let a = (FloatBuffer(p0), FloatBuffer(g0), FloatBuffer(m0), FloatBuffer(v0))
        let b = (FloatBuffer(p0), FloatBuffer(g0), FloatBuffer(m0), FloatBuffer(v0))
        for t in 1...3 {
            if t > 1 { for i in 0..<n { a.1[i] = g0[(i * 7 + t) % n]; b.1[i] = g0[(i * 7 + t) % n] } }
            applyUpdate(config, range: 0..<n, params: a.0.pointer, gradient: a.1.pointer, m: a.2.pointer,
                        v: a.3.pointer, t: t, learningRate: 0.01, gradientScale: 0.5)
            applyUpdateFast(config, range: 0..<n, params: b.0.pointer, gradient: b.1.pointer, m: b.2.pointer,
                            v: b.3.pointer, t: t, learningRate: 0.01, gradientScale: 0.5)
        }
        expectClose(b.0.array, a.0.array, relative: 1e-5, absolute: 1e-6, "params \(config.kind)")
        expectClose(b.2.array, a.2.array, relative: 1e-5, absolute: 1e-6, "m \(config.kind)")
        #expect(b.1.array.allSatisfy { $0 == 0 }, "gradient zeroed")
        withExtendedLifetime((a, b)) {}
    }

    @Test func schedules() {
        var s = Schedule(kind: .step)
        s.every = 10
        s.gamma = 0.5
        #expect(s.factor(at: 9) == 1 && s.factor(at: 10) == 0.5 && s.factor(at: 25) == 0.25)
        var c = Schedule(kind: .cosine)
        c.totalSteps = 100
        c.minFactor = 0.1
        expectClose(c.factor(at: 0), 1)
        expectClose(c.factor(at: 50), 0.55, relative: 1e-5)
        expectClose(c.factor(at: 100), 0.1, relative: 1e-5)
        var w = Schedule()
        w.warmupSteps = 4
        #expect(w.factor(at: 0) == 0.25 && w.factor(at: 3) == 1 && w.factor(at: 10) == 1)
    }

    @Test func writtenFormsParse() throws {
        #expect(try Schedule(parsing: "constant") == Schedule())
        let step = try Schedule(parsing: "step:500:0.5")
        #expect(step.kind == .step && step.every == 500 && step.gamma == 0.5)
        #expect(try Schedule(parsing: "cosine").minFactor == 0)
        #expect(try Schedule(parsing: "cosine:0.25").minFactor == 0.25)
        let m = try InitialMomentum(parsing: "0.5:5")
        #expect(m.momentum == 0.5 && m.epochs == 5)
        // Every key sets its own field; a later setting of a key wins; the rest stay.
        let p = try PhaseOptimizerSetting(parsing: "discriminator:optimizer=sgd,lr=2e-4,clip-norm=1,momentum=0.8,"
            + "weight-decay=0.01,beta1=0.7,beta2=0.95,lr=3e-4")
        var config = OptimizerConfig()
        p.apply(to: &config)
        #expect(p.phase == "discriminator" && config.kind == .sgd && config.learningRate == 3e-4 && config.clipNorm == 1)
        #expect(config.momentum == 0.8 && config.weightDecay == 0.01 && config.beta1 == 0.7 && config.beta2 == 0.95)
        #expect(config.epsilon == OptimizerConfig().epsilon && config.schedule == OptimizerConfig().schedule)
    }

    @Test(arguments: ["", "cosine:", "cosine:abc", "cosine:2", "step:0:0.1", "step:10", "step:10:-1", "step:10:inf",
                      "constant:1", "linear"])
    func badSchedulesAreRefused(_ spec: String) {
        #expect(throws: TrainingError.self) { try Schedule(parsing: spec) }
    }

    @Test(arguments: ["0.5", "1:5", "-0.1:5", "0.5:-1", "0.5:x", ":"])
    func badInitialMomentaAreRefused(_ spec: String) {
        #expect(throws: TrainingError.self) { try InitialMomentum(parsing: spec) }
    }

    @Test(arguments: ["discriminator", ":lr=1", "d:", "d:lr", "d:lr=x", "d:speed=1", "d:optimizer=rmsprop", "d:lr=1,"])
    func badPhaseSettingsAreRefused(_ spec: String) {
        #expect(throws: TrainingError.self) { try PhaseOptimizerSetting(parsing: spec) }
    }
}
