module GcnKd.Tests.ConvTests
