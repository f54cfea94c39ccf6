module GcnKd.Tests.ShapeRngTests
