module GcnKd.Tests.LossTests
